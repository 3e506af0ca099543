"""Row validation: turn raw dict rows into `PreferencePair`s, or say exactly what is wrong and where.

Accepted shapes of a row (the data contract, also in docs/data.md):

| column     | type                                             | required | notes                                        |
|------------|--------------------------------------------------|----------|----------------------------------------------|
| `id`       | string (an integer is taken as its string)       | no       | derived from a content hash when the column is absent |
| `prompt`   | string, or a list of `{role, content}` messages  | yes      | roles: system, user, assistant               |
| `chosen`   | string, or TRL conversational messages           | yes      | the last assistant turn is the response      |
| `rejected` | same as `chosen`                                 | yes      |                                              |
| `aspect`   | aspect name or alias                             | yes*     | *or given as a default by the caller         |
| `language` | language name or alias                           | yes*     |                                              |
| `subset`   | string                                           | no       | defaults to the file's stem                  |
| others     | anything                                         | no       | kept in `PreferencePair.extra`               |
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from themis_rm.schema import Aspect, Language, PreferencePair, freeze_prompt

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected", "aspect", "language")
CORE_COLUMNS = ("id", *REQUIRED_COLUMNS, "subset")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Location:
    """Where a row came from: `path:line` for JSON lines, `path[row i]` for tables (0-based, as pandas)."""

    source: str
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.source}:{self.line}"
        if self.row is not None:
            return f"{self.source}[row {self.row}]"
        return self.source


@dataclass(frozen=True)
class Problem:
    location: Location
    reason: str  # a short category, used to count skipped rows
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class RowError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _text(row: Mapping[str, Any], column: str) -> str:
    value = row[column]
    if isinstance(value, list):  # TRL conversational: the response is the last assistant turn
        turns = _messages(value, column)
        assistant = [m["content"] for m in turns if m["role"] == "assistant"]
        if not assistant:
            raise RowError("wrong_type", f"column '{column}' is a message list without an assistant turn")
        value = assistant[-1]
    if not isinstance(value, str):
        raise RowError("wrong_type", f"column '{column}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RowError("empty_response" if column in ("chosen", "rejected") else "empty_value",
                       f"column '{column}' is empty")
    return value


def _messages(value: list[Any], column: str) -> list[dict[str, str]]:
    turns = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping) or not {"role", "content"} <= set(message):
            raise RowError("wrong_type", f"column '{column}' message {i} must be an object with role and content")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise RowError("wrong_type", f"column '{column}' message {i} has role {role!r}; allowed: {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise RowError("wrong_type", f"column '{column}' message {i} content must be a string")
        turns.append({"role": role, "content": content})
    return turns


def _prompt(row: Mapping[str, Any]):
    value = row["prompt"]
    if isinstance(value, str):
        if not value.strip():
            raise RowError("empty_value", "column 'prompt' is empty")
        return value
    if isinstance(value, (list, tuple)):
        turns = _messages(list(value), "prompt")
        if not any(m["role"] == "user" for m in turns):
            raise RowError("wrong_type", "column 'prompt' has no user message")
        return freeze_prompt(turns)
    raise RowError("wrong_type", f"column 'prompt' must be a string or a list of messages, got {type(value).__name__}")


def _vocabulary(row: Mapping[str, Any], column: str, kind: type):
    value = row[column]
    try:
        return kind.parse(value)
    except ValueError as err:
        reason = "unknown_aspect" if kind is Aspect else "unknown_language"
        raise RowError(reason, f"column '{column}': {err}") from None


def content_id(subset: str, prompt: Any, chosen: str, rejected: str) -> str:
    blob = repr((prompt, chosen, rejected)).encode("utf-8")
    return f"{subset}_{hashlib.sha1(blob).hexdigest()[:12]}"


def to_pair(row: Mapping[str, Any], default_subset: str, defaults: Mapping[str, Any]) -> PreferencePair:
    """Validate one row; raises `RowError` with a one-line message."""
    if not isinstance(row, Mapping):
        raise RowError("wrong_type", f"row must be a JSON object, got {type(row).__name__}")
    row = {**defaults, **{k: v for k, v in row.items() if v is not None or k not in defaults}}
    missing = [c for c in REQUIRED_COLUMNS if c not in row]
    if missing:
        raise RowError("missing_column", f"missing column(s) {', '.join(repr(c) for c in missing)}")
    prompt = _prompt(row)
    chosen, rejected = _text(row, "chosen"), _text(row, "rejected")
    aspect = _vocabulary(row, "aspect", Aspect)
    language = _vocabulary(row, "language", Language)
    subset = row.get("subset", default_subset)
    if not isinstance(subset, str) or not subset:
        raise RowError("wrong_type", "column 'subset' must be a non-empty string")
    raw_id = row.get("id")
    if raw_id is None:
        pair_id = content_id(subset, prompt, chosen, rejected)
    elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise RowError("wrong_type", f"column 'id' must be a string, got {type(raw_id).__name__}")
    else:
        pair_id = str(raw_id)
        if not pair_id:
            raise RowError("empty_value", "column 'id' is empty")
    extra = {k: v for k, v in row.items() if k not in CORE_COLUMNS}
    return PreferencePair(pair_id, prompt, chosen, rejected, aspect, language, subset, extra)


def validate_rows(
    rows: Iterable[tuple[Location, Any]],
    defaults: Mapping[str, Any] | None = None,
) -> tuple[list[PreferencePair], list[Problem]]:
    """Every row either becomes a pair or a `Problem`; duplicate ids are problems too.

    A row without `subset` takes the stem of the file (or dataset) it came from.
    """
    pairs: list[PreferencePair] = []
    problems: list[Problem] = []
    seen: dict[str, Location] = {}
    for location, row in rows:
        if isinstance(row, Problem):  # a reader already found something wrong (bad JSON, bad bytes)
            problems.append(row)
            continue
        try:
            pair = to_pair(row, Path(location.source).stem, defaults or {})
        except RowError as err:
            problems.append(Problem(location, err.reason, str(err)))
            continue
        if pair.id in seen:
            problems.append(Problem(location, "duplicate_id", f"duplicate id {pair.id!r} (first at {seen[pair.id]})"))
            continue
        seen[pair.id] = location
        pairs.append(pair)
    return pairs, problems
