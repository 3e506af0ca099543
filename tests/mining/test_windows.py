from __future__ import annotations

import pytest

from themis_rm.mining.languages import dominant_c_family, header_language, language_of_path
from themis_rm.mining.windows import Dropped, WindowOptions, changed_rows, count_tokens, cut, diff_hunks
from themis_rm.schema import Language

OPTIONS = WindowOptions()

# (language, source, old line, new line, expected symbol): one change inside a function that
# sits between two others, so the cut must pick the right one.
CASES = [
    (Language.PYTHON, "def a():\n    return 1\n\n\nclass K:\n    @staticmethod\n    def b(x):\n        y = x + 1\n"
     "        return y\n\n\ndef c():\n    return 3\n", "y = x + 1", "y = x + 2", "b"),
    (Language.C, "int a(void) { return 1; }\n\nstatic int *b(int x) {\n    int y = x + 1;\n    return 0;\n}\n\n"
     "int c(void) { return 3; }\n", "x + 1", "x + 2", "b"),
    (Language.CPP, "int a() { return 1; }\n\ntemplate <class T>\nint ns::K::b(T x) const {\n    int y = x + 1;\n"
     "    return y;\n}\n\nint c() { return 3; }\n", "x + 1", "x + 2", "ns::K::b"),
    (Language.CSHARP, "class K {\n    int A() { return 1; }\n    int B(int x) {\n        var y = x + 1;\n"
     "        return y;\n    }\n    int C() { return 3; }\n}\n", "x + 1", "x + 2", "B"),
    (Language.GO, "package m\n\nfunc a() int { return 1 }\n\nfunc (r *R) B(x int) int {\n    y := x + 1\n"
     "    return y\n}\n\nfunc c() int { return 3 }\n", "x + 1", "x + 2", "B"),
    (Language.JAVA, "class K {\n    int a() { return 1; }\n    int b(int x) {\n        int y = x + 1;\n"
     "        return y;\n    }\n    int c() { return 3; }\n}\n", "x + 1", "x + 2", "b"),
    (Language.JAVASCRIPT, "function a() { return 1; }\n\nres.send = function send(x) {\n  const y = x + 1;\n"
     "  return y;\n};\n\nfunction c() { return 3; }\n", "x + 1", "x + 2", "res.send"),
    (Language.RUBY, "module M\n  def a\n    1\n  end\n\n  def self.b(x)\n    y = x + 1\n    y\n  end\n\n"
     "  def c\n    3\n  end\nend\n", "x + 1", "x + 2", "b"),
]


@pytest.mark.parametrize("language, source, old, new, symbol", CASES, ids=[c[0].value for c in CASES])
def test_cut_to_the_enclosing_function(language, source, old, new, symbol):
    after = source.replace(old, new)
    window = cut(source, after, diff_hunks(source, after), language, OPTIONS)
    assert window.kind == "function" and window.symbol == symbol
    assert old in window.before and new in window.after
    assert "return 3" not in window.after and "return 1" not in window.after
    assert window.change == "code"
    assert not window.before.startswith(" ")  # dedented


def test_without_tree_sitter_a_window_of_lines():
    source = "\n".join(f"line_{i} = {i}" for i in range(40)) + "\n"
    after = source.replace("line_20 = 20", "line_20 = 21")
    window = cut(source, after, diff_hunks(source, after), Language.PYTHON,
                 WindowOptions(tree_sitter=False, context_lines=3))
    assert window.kind == "lines" and window.symbol is None
    assert window.after.splitlines() == [f"line_{i} = {i}" if i != 20 else "line_20 = 21" for i in range(17, 24)]


def test_change_spanning_two_functions_falls_back_to_lines():
    source = CASES[0][1]
    after = source.replace("return 1", "return 10").replace("return 3", "return 30")
    window = cut(source, after, diff_hunks(source, after), Language.PYTHON, OPTIONS)
    assert window.kind == "lines"
    assert "return 10" in window.after and "return 30" in window.after


def test_renamed_function_is_not_paired_with_another():
    source = "def a():\n    return 1\n"
    after = "def b():\n    return 1\n"
    assert cut(source, after, diff_hunks(source, after), Language.PYTHON, OPTIONS).kind == "lines"


@pytest.mark.parametrize("tree_sitter", [True, False])
def test_whitespace_and_comment_only_changes_are_recognised(tree_sitter):
    options = WindowOptions(tree_sitter=tree_sitter)
    source = "int f(int x) {\n    int y = x + 1;\n    return y;\n}\n"
    spaced = source.replace("x + 1", "x  +  1")
    commented = source.replace("    return y;", "    // the result\n    return y;")
    assert cut(source, spaced, diff_hunks(source, spaced), Language.C, options).change == "whitespace"
    assert cut(source, commented, diff_hunks(source, commented), Language.C, options).change == "comment"


@pytest.mark.parametrize("tree_sitter", [True, False])
def test_python_reindent_is_a_code_change(tree_sitter):
    source = "def f(xs):\n    for x in xs:\n        g(x)\n        h(x)\n    return xs\n"
    moved = "def f(xs):\n    for x in xs:\n        g(x)\n    h(x)\n    return xs\n"
    window = cut(source, moved, diff_hunks(source, moved), Language.PYTHON, WindowOptions(tree_sitter=tree_sitter))
    assert window.change == "code"


def test_docstring_only_change_counts_as_comment():
    source = 'def f(x):\n    """Old words."""\n    return x\n'
    after = 'def f(x):\n    """New words."""\n    return x\n'
    assert cut(source, after, diff_hunks(source, after), Language.PYTHON, OPTIONS).change == "comment"


def test_caps_drop_windows_that_are_too_long():
    body = "".join(f"    v{i} = compute(x, {i})\n" for i in range(60))
    source = f"def f(x):\n{body}    return x\n"
    after = source.replace("v0 =", "w0 =").replace("v59 =", "w59 =")
    with pytest.raises(Dropped) as caught:
        cut(source, after, diff_hunks(source, after), Language.PYTHON, WindowOptions(max_side_tokens=150))
    assert caught.value.reason == "window_too_long"
    small = source.replace("v30 =", "w30 =")
    window = cut(source, small, diff_hunks(source, small), Language.PYTHON, WindowOptions(max_side_tokens=150))
    assert window.kind == "lines" and count_tokens(window.after) <= 150


def test_depth_tells_trivial_snippets_from_code():
    tiny = cut("VERSION = 1\n", "VERSION = 2\n", [(1, 1, 1, 1)], Language.PYTHON, OPTIONS)
    real = cut(CASES[0][1], CASES[0][1].replace("x + 1", "x + 2"),
               diff_hunks(CASES[0][1], CASES[0][1].replace("x + 1", "x + 2")), Language.PYTHON, OPTIONS)
    assert tiny.after_depth == 4
    assert real.after_depth >= 6


def test_changed_rows_handle_pure_insertions_and_deletions():
    assert changed_rows([(3, 0, 4, 2)], "before") == (2, 2)
    assert changed_rows([(3, 0, 4, 2)], "after") == (3, 4)
    assert changed_rows([(1, 1, 1, 1), (9, 2, 9, 0)], "before") == (0, 9)


def test_languages_by_extension_and_header_content():
    assert language_of_path("src/a.cc") is Language.CPP
    assert language_of_path("lib/x.rb") is Language.RUBY
    assert language_of_path("web/app.min.js") is None  # generated
    assert language_of_path("inc/x.h") is None  # decided by content
    assert header_language("class W { public: int x; };", Language.C) is Language.CPP
    assert header_language("namespace n {\n}", None) is Language.CPP
    assert header_language("struct s { int x; };\nint f(void);", Language.C) is Language.C
    assert header_language("struct s { int x; };", Language.CPP) is Language.CPP
    assert header_language("int f(void);", None) is Language.C
    assert dominant_c_family(["a.c", "b.c", "c.cpp", "d.h"]) is Language.C
    assert dominant_c_family(["a.cc", "b.hpp"]) is Language.CPP
    assert dominant_c_family(["a.py"]) is None


def _shape(node) -> list:
    """Every node's type and position: two trees with the same shape are the same parse."""
    out, stack = [], [node]
    while stack:
        current = stack.pop()
        out.append((current.type, current.start_point, current.end_point, current.is_missing))
        stack.extend(current.children)
    return out


def _git_hunks(old: bytes, new: bytes):
    from themis_rm.mining.commits import _line_hunks

    return _line_hunks(old, new)


@pytest.mark.parametrize("language, source, old, new, symbol", CASES, ids=[c[0].value for c in CASES])
def test_incremental_parses_equal_fresh_ones(language, source, old, new, symbol):
    """A chain of versions through the cache: every tree and every window must equal a fresh cut."""
    import random

    from themis_rm.mining.syntax import ParseCache, parse

    rng = random.Random(language.value)
    cache = ParseCache(_git_hunks)
    version = source
    for step in range(12):
        lines = version.split("\n")
        row = rng.randrange(len(lines))
        choice = step % 4
        if choice == 0:
            lines[row] = lines[row].replace(old, new) if old in lines[row] else lines[row] + " "
        elif choice == 1:
            lines.insert(row, lines[rng.randrange(len(lines))])
        elif choice == 2 and len(lines) > 3:
            del lines[row]
        else:
            lines[row] = lines[row] + "  // x" if language is not Language.PYTHON else lines[row] + "  # x"
        following = "\n".join(lines)
        if following == version:
            continue
        hunks = _git_hunks(version.encode(), following.encode())
        try:
            fresh = cut(version, following, hunks, language, OPTIONS)
        except Dropped as dropped:
            fresh = dropped.reason
        try:
            cached = cut(version, following, hunks, language, OPTIONS, cache, "f")
        except Dropped as dropped:
            cached = dropped.reason
        assert cached == fresh, step
        assert _shape(cache.root(language, "f", following.encode())) == _shape(parse(language, following))
        version = following
    assert cache.stats["incremental"] >= 10


def test_fast_dedent_is_textwrap_dedent():
    import random
    import textwrap

    from themis_rm.mining.windows import dedent

    pieces = ["", "  ", "\t", "    x = 1", "  y", "\tz", "      w  ", " \t q", "\x0c", "a", "\t\tb", "\t c"]
    rng = random.Random(0)
    for _ in range(3000):
        lines = [rng.choice(pieces) for _ in range(rng.randint(0, 6))]
        assert dedent(lines) == textwrap.dedent("\n".join(lines)).strip("\n"), lines


@pytest.mark.parametrize("edit", ["insert", "delete", "replace", "insert-top", "delete-end"])
def test_line_windows_line_up_on_both_sides(edit):
    lines = [f"value_{i} = {i}" for i in range(30)]
    changed = list(lines)
    if edit == "insert":
        changed.insert(15, "extra = 1")
    elif edit == "delete":
        del changed[15]
    elif edit == "replace":
        changed[15] = "value_15 = -15"
    elif edit == "insert-top":
        changed.insert(0, "extra = 1")
    else:
        del changed[-1]
    before, after = "\n".join(lines) + "\n", "\n".join(changed) + "\n"
    window = cut(before, after, diff_hunks(before, after), Language.PYTHON,
                 WindowOptions(tree_sitter=False, context_lines=3))
    b_lines, a_lines = window.before.splitlines(), window.after.splitlines()
    assert b_lines[0] == a_lines[0] or edit == "insert-top"  # the same context line opens both
    assert b_lines[-1] == a_lines[-1] or edit == "delete-end"
    assert abs(len(b_lines) - len(a_lines)) == (0 if edit == "replace" else 1)
