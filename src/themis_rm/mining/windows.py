"""Cut a changed file down to the region a preference is about.

With tree-sitter, a pair is the innermost function (or class) that holds every changed line,
taken from both versions when both versions have it under the same name. Otherwise, or
when that definition is over the size caps, it is a window of lines: the changed lines plus
`context_lines` on each side. Both sides are dedented.

The cut also says what kind of change it is: when every hunk has the same code leaves on
both sides (comments dropped, whitespace ignored, nesting depth kept so that a re-indented
Python statement still counts), the change is `whitespace` or `comment`, and is not a
preference about code.

Lines are what git counts: text split on "\\n" only (a form feed or a lone "\\r" inside a
line does not start a new one).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass

from themis_rm.mining import syntax
from themis_rm.mining.dedup import TOKEN
from themis_rm.mining.syntax import Hunk
from themis_rm.schema import Language

_C_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_HASH_COMMENTS = re.compile(r"#[^\n]*")
_RUBY_BLOCK = re.compile(r"^=begin\b.*?^=end\b", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class WindowOptions:
    tree_sitter: bool = True
    context_lines: int = 8
    max_side_chars: int = 6000
    max_side_tokens: int = 1500
    depth_cap: int | None = None  # depths are only measured up to this (the threshold they are held to)


@dataclass(frozen=True)
class Window:
    before: str
    after: str
    kind: str  # "function", "class" or "lines"
    symbol: str | None
    change: str  # "code", "whitespace" or "comment"
    before_depth: int
    after_depth: int


class Dropped(Exception):
    """Raised with the drop reason when a pair cannot be cut."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def diff_hunks(before: str, after: str) -> list[Hunk]:
    """Zero-context line hunks from difflib, for callers without a git patch at hand."""
    matcher = difflib.SequenceMatcher(a=split_lines(before), b=split_lines(after), autojunk=False)
    hunks: list[Hunk] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old_start = i1 + 1 if i2 > i1 else i1
        new_start = j1 + 1 if j2 > j1 else j1
        hunks.append((old_start, i2 - i1, new_start, j2 - j1))
    return hunks


def hunk_rows(hunk: Hunk, side: str) -> tuple[int, int] | None:
    """0-based rows a hunk replaces on one side; None for the empty side of an insertion/deletion."""
    start, count = (hunk[0], hunk[1]) if side == "before" else (hunk[2], hunk[3])
    return (start - 1, start + count - 2) if count > 0 else None


def changed_rows(hunks: list[Hunk], side: str) -> tuple[int, int]:
    """First and last row touched on one side; an insertion touches the row before it."""
    rows: list[int] = []
    for hunk in hunks:
        span = hunk_rows(hunk, side)
        start = hunk[0] if side == "before" else hunk[2]
        rows.extend(span if span is not None else (max(start - 1, 0),))
    return min(rows), max(rows)


def window_span(hunks: list[Hunk], side: str) -> tuple[int, int]:
    """First and last row of the changed region on one side, for a window of context around it.
    An insertion (or deletion) occupies no row: it sits just before the row after it, so that
    the context lines above and below line up on both sides."""
    firsts, lasts = [], []
    for hunk in hunks:
        start, count = (hunk[0], hunk[1]) if side == "before" else (hunk[2], hunk[3])
        first = start - 1 if count else start
        firsts.append(first)
        lasts.append(first + count - 1)
    return min(firsts), max(lasts)


def _lines(lines: list[str], first: int, last: int) -> str:
    return "\n".join(lines[first:last + 1])


def dedent(lines: list[str]) -> str:
    """The lines without their common leading whitespace and without blank lines at either end
    (what `textwrap.dedent(...).strip("\n")` gives, without its regular expressions)."""
    lines = [line if line.strip(" \t") else "" for line in lines]  # as textwrap: only spaces and tabs indent
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    margins = [line[:len(line) - len(line.lstrip(" \t"))] for line in lines if line]
    cut_at = len(os.path.commonprefix(margins)) if margins else 0  # noqa: RUF071 (characters, not paths)
    return "\n".join(line[cut_at:] for line in lines)


def _fits(text: str, options: WindowOptions) -> bool:
    if len(text) > options.max_side_chars:
        return False
    # a token is at least one character, so short texts need no counting
    return len(text) <= options.max_side_tokens or count_tokens(text) <= options.max_side_tokens


def cut(before: str, after: str, hunks: list[Hunk], language: Language, options: WindowOptions,
        parses: syntax.ParseCache | None = None, path: str = "") -> Window:
    """The pair's two sides, or `Dropped` with the reason. With `parses`, trees come from the
    cache (incremental parses); the window is the same either way."""
    if not hunks:
        raise Dropped("no_change_in_window")
    b_root = a_root = None
    if options.tree_sitter:
        if parses is not None:
            b_data, a_data = before.encode("utf-8"), after.encode("utf-8")
            b_root = parses.root(language, path, b_data)
            a_root = parses.root(language, path, a_data, known=(b_data, hunks))
        else:
            b_root, a_root = syntax.parse(language, before), syntax.parse(language, after)
    b_lines, a_lines = split_lines(before), split_lines(after)
    if b_root is not None and a_root is not None:
        window = _definition_window(b_lines, a_lines, b_root, a_root, hunks, language, options)
        if window is not None:
            return window
    return _line_window(b_lines, a_lines, b_root, a_root, hunks, language, options)


def _definition_window(b_lines, a_lines, b_root, a_root, hunks, language, options) -> Window | None:
    b_def = syntax.enclosing_definition(b_root, language, *changed_rows(hunks, "before"))
    a_def = syntax.enclosing_definition(a_root, language, *changed_rows(hunks, "after"))
    if b_def is None or a_def is None or b_def.node_type != a_def.node_type or b_def.symbol != a_def.symbol:
        return None
    (b_first, b_last), (a_first, a_last) = b_def.rows, a_def.rows
    b_text, a_text = dedent(b_lines[b_first:b_last + 1]), dedent(a_lines[a_first:a_last + 1])
    if not (_fits(b_text, options) and _fits(a_text, options)):
        return None
    change = _change_kind(b_root, a_root, hunks, language, b_text, a_text)
    cap = options.depth_cap
    return Window(b_text, a_text, a_def.kind, a_def.symbol, change,
                  syntax.depth(b_def.span, cap), syntax.depth(a_def.span, cap))


def _line_window(b_lines, a_lines, b_root, a_root, hunks, language, options) -> Window:
    ctx = options.context_lines
    b_first, b_last = window_span(hunks, "before")
    a_first, a_last = window_span(hunks, "after")
    b_text = dedent(b_lines[max(b_first - ctx, 0):b_last + ctx + 1])
    a_text = dedent(a_lines[max(a_first - ctx, 0):a_last + ctx + 1])
    if not (_fits(b_text, options) and _fits(a_text, options)):
        raise Dropped("window_too_long")
    change = _change_kind(b_root, a_root, hunks, language, b_text, a_text, b_lines, a_lines)
    if b_root is not None and a_root is not None:
        cap = options.depth_cap
        b_depth = syntax.depth(syntax.parse(language, b_text), cap)
        a_depth = syntax.depth(syntax.parse(language, a_text), cap)
    else:
        b_depth, a_depth = _plain_depth(b_text), _plain_depth(a_text)
    return Window(b_text, a_text, "lines", None, change, b_depth, a_depth)


def _change_kind(b_root, a_root, hunks, language, b_text, a_text, b_lines=None, a_lines=None) -> str:
    """`code` when any hunk changes a code token; else `whitespace` or `comment`."""
    if b_text == a_text:
        raise Dropped("no_change_in_window")
    for hunk in hunks:
        b_rows, a_rows = hunk_rows(hunk, "before"), hunk_rows(hunk, "after")
        if b_root is not None and a_root is not None:
            b_sig = syntax.code_signature(b_root, language, b_rows) if b_rows else []
            a_sig = syntax.code_signature(a_root, language, a_rows) if a_rows else []
        else:
            b_sig = _plain_signature(_lines(b_lines, *b_rows), language) if b_rows else []
            a_sig = _plain_signature(_lines(a_lines, *a_rows), language) if a_rows else []
        if b_sig != a_sig:
            return "code"
    if re.sub(r"\s+", "", b_text) == re.sub(r"\s+", "", a_text):
        return "whitespace"
    return "comment"


def _plain_signature(text: str, language: Language) -> list:
    """Without a parser: code tokens with comments cut by regex (and, for Python, indentation)."""
    if language in (Language.PYTHON, Language.RUBY):
        text = _HASH_COMMENTS.sub("", _RUBY_BLOCK.sub("", text) if language is Language.RUBY else text)
    else:
        text = _C_COMMENTS.sub("", text)
    signature: list = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip()) if language is Language.PYTHON else 0
        signature.extend((indent, token) for token in TOKEN.findall(line))
    return signature


def _plain_depth(text: str) -> int:
    """A syntax-tree depth stand-in: bracket nesting plus indentation levels, plus the two levels
    (file and statement) every parse tree has."""
    deepest = level = 0
    for char in text:
        if char in "([{":
            level += 1
            deepest = max(deepest, level)
        elif char in ")]}":
            level = max(level - 1, 0)
    indents = {len(line) - len(line.lstrip()) for line in text.split("\n") if line.strip()}
    return deepest + len(indents) + 2
