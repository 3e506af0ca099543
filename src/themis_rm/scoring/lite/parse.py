"""From a response to parseable code: fence stripping, language inference, grammar loading.

Responses are usually one fenced markdown block; some have prose around it, several blocks,
an unterminated fence (a truncated generation) or no fence at all. We keep the code of every
block, remember the first fence tag (it names the language when the request does not) and
measure how much prose surrounds the code.

Grammars come from the per-language wheels (`tree-sitter-python`, ...), which work offline;
each is imported on first use and its parser kept for the process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from themis_rm.schema import Language

#: Responses longer than this are cut before parsing; the scorer flags them `truncated`.
MAX_CODE_BYTES = 200_000

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n", re.MULTILINE)


@dataclass(frozen=True)
class Code:
    """The code of one response, as UTF-8 bytes, with what the markdown around it told us."""

    source: bytes
    fence_tag: str | None
    fenced: bool
    prose_chars: int
    truncated: bool


def strip_fences(response: str) -> Code:
    """Code blocks of a markdown response joined by newlines; the whole text when there is no fence."""
    if "```" not in response and "~~~" not in response:
        return _code(response, None, fenced=False, prose_chars=0)
    simple = _single_block(response)
    if simple is not None:
        return simple
    return _blocks(response)


def _blocks(response: str) -> Code:
    """The general case: any number of fences, prose around them, an unterminated last block."""
    blocks: list[str] = []
    tag: str | None = None
    prose = 0
    position = 0
    while True:
        opening = _FENCE.search(response, position)
        if opening is None:
            prose += len(response[position:].strip())
            break
        prose += len(response[position:opening.start()].strip())
        marker = opening.group(1)
        if tag is None and opening.group(2):
            tag = opening.group(2).lower()
        closing = re.compile(rf"^[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.MULTILINE)
        end = closing.search(response, opening.end())
        if end is None:  # an unterminated block runs to the end (a truncated generation)
            blocks.append(response[opening.end():])
            break
        blocks.append(response[opening.end():end.start()].rstrip("\n"))
        position = end.end()
    if not blocks:
        return _code(response, None, fenced=False, prose_chars=0)
    return _code("\n".join(blocks), tag, fenced=True, prose_chars=prose)


def _single_block(response: str) -> Code | None:
    """The usual case, with string operations only: one block and nothing around it."""
    text = response.strip()
    if not (text.startswith("```") and text.endswith("```") and text.count("```") == 2):
        return None
    newline = text.find("\n")
    if newline < 0:
        return None
    header = text[3:newline].strip()
    tag = header.split()[0].lower() if header else None
    return _code(text[newline + 1:-3].rstrip("\n"), tag, fenced=True, prose_chars=0)


def _code(text: str, tag: str | None, fenced: bool, prose_chars: int) -> Code:
    source = text.encode("utf-8", errors="replace")
    truncated = len(source) > MAX_CODE_BYTES
    if truncated:
        source = source[:MAX_CODE_BYTES]
    return Code(source, tag, fenced, prose_chars, truncated)


def language_from_tag(tag: str | None) -> Language | None:
    if not tag:
        return None
    try:
        return Language.parse(tag)
    except ValueError:
        return None


# Cheap tell-tale signs, tried in order; the first that matches names the language.
_GUESSES: tuple[tuple[Language, re.Pattern[bytes]], ...] = (
    (Language.GO, re.compile(rb"^\s*package\s+\w+\s*$|^\s*func\s+(\(\w+\s+\*?\w+\)\s*)?\w+\s*\(", re.M)),
    (Language.CSHARP, re.compile(rb"^\s*using\s+System|\bnamespace\s+[\w.]+\s*\{|\bpublic\s+(static\s+)?(async\s+)?\w+<?\w*>?\s+[A-Z]\w*\s*\(.*\)\s*$", re.M)),
    (Language.JAVA, re.compile(rb"^\s*import\s+java\.|^\s*package\s+[\w.]+;|\bpublic\s+(final\s+)?class\s+\w+|System\.out\.print", re.M)),
    (Language.CPP, re.compile(rb"#include\s*<(iostream|vector|string|map|algorithm|memory)>|\bstd::|\bclass\s+\w+\s*(:\s*public\s+\w+\s*)?\{|\busing\s+namespace\b")),
    (Language.C, re.compile(rb"#include\s*[<\"]|\b(int|void|char)\s+\*?\w+\s*\([^)]*\)\s*\{|\bprintf\s*\(|\bmalloc\s*\(")),
    (Language.RUBY, re.compile(rb"^\s*def\s+[\w.]+[?!]?\s*(\([^)]*\))?\s*$|^\s*end\s*$|\.each\s+do\b|^\s*require\s+['\"]", re.M)),
    (Language.PYTHON, re.compile(rb"^\s*def\s+\w+\s*\(.*\)\s*(->.*)?:\s*$|^\s*(from\s+[\w.]+\s+)?import\s+\w+|^\s*print\s*\(|^\s*if\s+.*:\s*$|^\s*class\s+\w+.*:\s*$", re.M)),
    (Language.JAVASCRIPT, re.compile(rb"\bfunction\b|=>|\b(const|let|var)\s+\w+\s*=|console\.log|require\s*\(|module\.exports")),
)


def guess_language(source: bytes) -> Language | None:
    """A best guess from the code itself, used only when neither the request nor the fence says."""
    head = source[:20_000]
    for language, pattern in _GUESSES:
        if pattern.search(head):
            return language
    return None


def resolve_language(declared: Language | None, code: Code) -> tuple[Language | None, str]:
    """The language to parse with and where it came from: `request`, `fence`, `guess` or `none`."""
    if declared is not None:
        return declared, "request"
    tagged = language_from_tag(code.fence_tag)
    if tagged is not None:
        return tagged, "fence"
    guessed = guess_language(code.source)
    if guessed is not None:
        return guessed, "guess"
    return None, "none"


