"""The prompt of a mined pair: a task statement that never contains either side's code.

Offline (the default), it is built from the commit subject and body, the file path, the
language and the symbol name. Commit messages quote code often, so before the message goes in,
fenced blocks are dropped and so is any line that holds a line of either side's code (see
`code_lines`). If a quoted line survives all that, the pair
is dropped with the reason `prompt_leak` rather than shipped with a leaked answer.

An LLM can write the instruction instead (`--prompt llm`); its text passes the same check,
and a leaking or failed answer falls back to the offline prompt (both are counted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from themis_rm.schema import Language

MIN_CODE_LINE_CHARS = 12  # shorter lines ("return x;", "}") are too generic to count as a leak
_FENCE = re.compile(r"```.*?(```|\Z)", re.DOTALL)
_PR_SUFFIX = re.compile(r"\s*\((?:#|gh-|GH-)\d+\)\s*$")
_INLINE_CODE = re.compile(r"`[^`\n]{40,}`")  # long inline spans are code, short ones are names
_DIFF_LINE = re.compile(r"^[+-](\t| {2,})")  # "+    x = 1" is a quoted diff; "- item" and "-Fixed" are prose


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def code_lines(*sides: str) -> set[str]:
    """Whitespace-free lines of code long enough that seeing one in a prompt means a leak."""
    found: set[str] = set()
    for side in sides:
        for line in side.splitlines():
            squeezed = _squeeze(line)
            if len(squeezed) >= MIN_CODE_LINE_CHARS and re.search(r"[^\w\s]", squeezed):
                found.add(squeezed)
    return found


def leaks(text: str, lines: Iterable[str]) -> bool:
    squeezed = _squeeze(text)
    return any(line in squeezed for line in lines)


def clean_message_text(text: str, lines: set[str]) -> str:
    """The message without the sides' code: fenced blocks, long inline code spans, quoted diff
    lines, and every line that holds a line of either side, removed. Other quoted code (an
    input that used to crash, say) is not the answer and stays."""
    text = _FENCE.sub("", text)
    text = _INLINE_CODE.sub("", text)
    kept: list[str] = []
    for line in text.splitlines():
        if line.startswith("@@") or _DIFF_LINE.match(line) or (lines and leaks(line, lines)):
            continue
        kept.append(line.rstrip())
    cleaned = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", cleaned).strip()


def offline_prompt(subject: str, body: str, path: str, language: Language, symbol: str | None, kind: str,
                   before: str, after: str) -> str | None:
    """The task statement, or None when the message cannot be freed of the sides' code."""
    lines = code_lines(before, after)
    subject = clean_message_text(_PR_SUFFIX.sub("", subject), lines)
    body = clean_message_text(body, lines)
    if kind in ("function", "class") and symbol:
        target = f"the {kind} `{symbol}` in `{path}`"
        deliver = f"Reply with the complete {kind} `{symbol}` after the change."
    else:
        target = f"the code in `{path}`"
        deliver = "Reply with the complete updated code region."
    parts = [f"Make the following change to {target} ({language.value}).", f"Change: {subject or 'see below'}"]
    if body:
        parts.append(f"Details:\n{body}")
    parts.append(deliver)
    prompt = "\n\n".join(parts)
    if leaks(prompt, lines):
        return None
    return prompt


LLM_SYSTEM = (
    "You turn a commit into the instruction a developer would give an assistant. Write one short "
    "paragraph in the imperative that says what to change in the named code and why. Do not include "
    "any code, identifiers other than the function name, diff, or the commit hash. Reply with the "
    "instruction only."
)


def llm_messages(subject: str, body: str, path: str, language: Language, symbol: str | None) -> list[dict[str, str]]:
    """The request for an LLM-written instruction. Only the message goes out, never the code, so
    the answer has nothing to copy; it is still checked for leaks."""
    target = f"`{symbol}` in `{path}`" if symbol else f"`{path}`"
    user = f"Language: {language.value}\nCode: {target}\nCommit subject: {subject}\nCommit body:\n{body or '(none)'}"
    return [{"role": "system", "content": LLM_SYSTEM}, {"role": "user", "content": user}]

