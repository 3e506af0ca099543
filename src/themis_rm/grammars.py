"""Tree-sitter grammars for the eight languages, from the per-language wheels (they work offline).

One table for every layer that parses code (the `lite` scorer, the miner's windows).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from themis_rm.schema import Language

GRAMMAR_MODULES: dict[Language, str] = {
    Language.C: "tree_sitter_c",
    Language.CSHARP: "tree_sitter_c_sharp",
    Language.CPP: "tree_sitter_cpp",
    Language.GO: "tree_sitter_go",
    Language.JAVA: "tree_sitter_java",
    Language.JAVASCRIPT: "tree_sitter_javascript",
    Language.PYTHON: "tree_sitter_python",
    Language.RUBY: "tree_sitter_ruby",
}


@cache
def grammar(language: Language) -> Any:
    """The `tree_sitter.Language` of a grammar wheel; raises ImportError when the wheel is missing."""
    import tree_sitter

    module = importlib.import_module(GRAMMAR_MODULES[language])
    return tree_sitter.Language(module.language())


@cache
def parser(language: Language) -> Any:
    import tree_sitter

    return tree_sitter.Parser(grammar(language))
