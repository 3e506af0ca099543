"""Which of the eight languages a file is in, from its name (and, for `.h`, its content).

A `.h` header is C++ when its text uses something C does not have (classes, namespaces,
templates, `std::`, access specifiers, ...); otherwise it takes the repository's dominant
language among C and C++ (counted once per repository from its newest tree), and C when
the repository has neither.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterable

from themis_rm.schema import Language

EXTENSIONS: dict[str, Language] = {
    ".c": Language.C,
    ".cc": Language.CPP, ".cpp": Language.CPP, ".cxx": Language.CPP, ".c++": Language.CPP,
    ".hpp": Language.CPP, ".hh": Language.CPP, ".hxx": Language.CPP, ".h++": Language.CPP,
    ".ipp": Language.CPP, ".tpp": Language.CPP, ".inl": Language.CPP,
    ".cs": Language.CSHARP,
    ".go": Language.GO,
    ".java": Language.JAVA,
    ".js": Language.JAVASCRIPT, ".mjs": Language.JAVASCRIPT, ".cjs": Language.JAVASCRIPT,
    ".jsx": Language.JAVASCRIPT,
    ".py": Language.PYTHON, ".pyw": Language.PYTHON,
    ".rb": Language.RUBY, ".rake": Language.RUBY,
}
HEADER = ".h"
# Machine-made files: a change to them is not a person's preference.
GENERATED_SUFFIXES = (".min.js", ".bundle.js", "_pb2.py", ".pb.go", ".pb.cc", ".pb.h", ".designer.cs")

_CPP_MARKERS = re.compile(
    r"\bclass\s+\w+\s*(?:final\s*)?[:{]|\bnamespace\s+\w*\s*\{|\btemplate\s*<|\bstd::|"
    r"^\s*(?:public|private|protected)\s*:|\bconstexpr\b|\bnullptr\b|\boperator\s*(?:[^\w\s]|\(\))|"
    r"#\s*include\s*<(?:iostream|string|vector|memory|map|unordered_map|algorithm|utility|"
    r"functional|cstdint|cstdio|cstdlib|cstring|type_traits)>|\bvirtual\b.*\)\s*(?:=\s*0|override)",
    re.MULTILINE,
)


def language_of_path(path: str) -> Language | None:
    """The language for an unambiguous extension; None for `.h` and for everything else."""
    name = posixpath.basename(path).lower()
    if name.endswith(GENERATED_SUFFIXES):
        return None
    return EXTENSIONS.get(posixpath.splitext(name)[1])


def is_header(path: str) -> bool:
    return posixpath.splitext(path.lower())[1] == HEADER


def header_language(text: str, dominant: Language | None) -> Language:
    if _CPP_MARKERS.search(text):
        return Language.CPP
    return dominant if dominant in (Language.C, Language.CPP) else Language.C


def dominant_c_family(paths: Iterable[str]) -> Language | None:
    """C or C++, whichever has more source files among `paths`; None when neither appears."""
    counts: Counter[Language] = Counter()
    for path in paths:
        language = language_of_path(path)
        if language in (Language.C, Language.CPP):
            counts[language] += 1
    if not counts:
        return None
    return Language.CPP if counts[Language.CPP] > counts[Language.C] else Language.C
