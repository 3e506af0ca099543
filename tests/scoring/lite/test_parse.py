"""Fence stripping, language resolution and grammar loading."""

import pytest
import tree_sitter

from themis_rm.grammars import grammar
from themis_rm.schema import Language
from themis_rm.scoring.lite.parse import (
    MAX_CODE_BYTES,
    guess_language,
    resolve_language,
    strip_fences,
)
from themis_rm.scoring.lite.syntax import query_source


def test_one_fenced_block_is_its_code_and_tag():
    code = strip_fences("```python\nx = 1\ny = 2\n```")
    assert code.source == b"x = 1\ny = 2" and code.fence_tag == "python" and code.fenced and code.prose_chars == 0


def test_prose_and_several_blocks():
    code = strip_fences("Here it is:\n```js\nlet a = 1;\n```\nand a helper:\n```\nlet b = 2;\n```\nDone.")
    assert code.source == b"let a = 1;\nlet b = 2;"
    assert code.fence_tag == "js"
    assert code.prose_chars == len("Here it is:") + len("and a helper:") + len("Done.")


def test_unterminated_fence_runs_to_the_end():
    code = strip_fences("```go\nfunc f() {\n")
    assert code.source == b"func f() {\n" and code.fence_tag == "go"


def test_no_fence_is_the_whole_text():
    code = strip_fences("int main() { return 0; }")
    assert code.source == b"int main() { return 0; }" and not code.fenced and code.fence_tag is None


def test_tilde_fence():
    assert strip_fences("~~~ruby\nputs 1\n~~~").source == b"puts 1"


def test_huge_response_is_cut_and_flagged():
    code = strip_fences("x" * (MAX_CODE_BYTES + 10))
    assert code.truncated and len(code.source) == MAX_CODE_BYTES


def test_lone_surrogates_do_not_raise():
    assert strip_fences("a\ud800b").source == b"a?b"


def test_language_comes_from_request_then_fence_then_guess():
    fenced = strip_fences("```cpp\nint x;\n```")
    assert resolve_language(Language.JAVA, fenced) == (Language.JAVA, "request")
    assert resolve_language(None, fenced) == (Language.CPP, "fence")
    assert resolve_language(None, strip_fences("def f(x):\n    return x\n")) == (Language.PYTHON, "guess")
    assert resolve_language(None, strip_fences("hello world")) == (None, "none")


@pytest.mark.parametrize(("code", "language"), [
    (b"package main\n\nfunc main() {}\n", Language.GO),
    (b"using System;\nclass A {}\n", Language.CSHARP),
    (b"import java.util.List;\npublic class A {}\n", Language.JAVA),
    (b"#include <vector>\nstd::vector<int> v;\n", Language.CPP),
    (b"#include <stdio.h>\nint main(void) { printf(\"hi\"); }\n", Language.C),
    (b"def greet(name)\n  puts name\nend\n", Language.RUBY),
    (b"import os\nprint(os.getcwd())\n", Language.PYTHON),
    (b"const f = (x) => x + 1;\n", Language.JAVASCRIPT),
])
def test_guess_language(code, language):
    assert guess_language(code) is language


@pytest.mark.parametrize("language", list(Language))
def test_every_grammar_loads_and_its_query_compiles(language):
    query = tree_sitter.Query(grammar(language), query_source(language))
    assert query.pattern_count > 10


@pytest.mark.parametrize("response", [
    "```python\nx = 1\n```", "```\nplain\n```\n", "  ```cpp  extra\nint x;\n\n```  ", "```go\n\n```",
    "```js\na\n```\n", "```ruby\nputs 1\nputs 2\n```",
])
def test_single_block_fast_path_matches_the_general_path(response):
    from themis_rm.scoring.lite.parse import _blocks, _single_block

    assert _single_block(response) == _blocks(response)
