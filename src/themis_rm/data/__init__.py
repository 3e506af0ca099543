"""The data layer: read and validate preference pairs from any source, write them back.

`read_pairs` validates everything before anything is scored: with `on_invalid="error"`
(the default) any problem raises `DataError`, whose message has one line per problem
naming the file and the row; with `on_invalid="skip"` bad rows are dropped and counted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from themis_rm.data.readers import SourceError, iter_source
from themis_rm.data.validate import Location, Problem, validate_rows
from themis_rm.data.writers import write_pairs
from themis_rm.schema import PreferencePair

MAX_REPORTED_PROBLEMS = 20


class DataError(ValueError):
    """The input has problems; `str()` is one line per problem (capped), `problems` has them all."""

    def __init__(self, problems: list[Problem], source: str) -> None:
        self.problems = problems
        shown = [str(p) for p in problems[:MAX_REPORTED_PROBLEMS]]
        if len(problems) > MAX_REPORTED_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_REPORTED_PROBLEMS} more problem(s) in {source}")
        super().__init__("\n".join(shown))


@dataclass
class PairSet:
    source: str
    pairs: list[PreferencePair]
    skipped: list[Problem] = field(default_factory=list)

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(p.reason for p in self.skipped).items()))

    def digest(self) -> str:
        """A hash of the validated content, recorded in every run manifest."""
        sha = hashlib.sha256()
        for pair in self.pairs:
            sha.update(json.dumps(pair.to_row(), sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
            sha.update(b"\n")
        return sha.hexdigest()[:16]


def _builtin_rows():
    from themis_rm.data.builtin_loader import load_builtin

    for index, row in enumerate(load_builtin()):
        yield Location("builtin", row=index), row


def read_pairs(
    source: str,
    on_invalid: str = "error",
    defaults: Mapping[str, Any] | None = None,
) -> PairSet:
    """Read and validate every row of `source`; see the module docstring for `on_invalid`."""
    if on_invalid not in ("error", "skip"):
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    try:  # a source that cannot be opened fails here, one that breaks mid-way inside validate_rows
        rows = _builtin_rows() if source == "builtin" else iter_source(source)
        pairs, problems = validate_rows(rows, defaults)
    except SourceError as err:
        raise DataError([Problem(Location(source), "unreadable", str(err).removeprefix(f"{source}: "))], source) from None
    if problems and on_invalid == "error":
        raise DataError(problems, source)
    if not pairs:
        detail = f" ({len(problems)} invalid row(s) skipped)" if problems else ""
        raise DataError([Problem(Location(source), "empty_input", f"no valid rows{detail}")], source)
    return PairSet(source, pairs, problems)


__all__ = ["DataError", "PairSet", "Problem", "SourceError", "read_pairs", "write_pairs"]
