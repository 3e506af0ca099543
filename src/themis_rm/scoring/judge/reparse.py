"""Re-reading stored judge outputs without asking the judge again.

Every judge `Scored.detail` keeps the raw answers of each view and sample, the protocol's
name and its parameters. `reparse` hands those raw fields back to the protocol's `settle`,
the same function the live run used, so re-parsing an unchanged run reproduces its scores
exactly, and re-parsing after a change to the extraction rules applies the new rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from themis_rm.scoring.base import Scored, ScorerError
from themis_rm.scoring.judge.protocols import make_protocol


def is_judge_detail(detail: object) -> bool:
    return isinstance(detail, Mapping) and "protocol" in detail and "views" in detail


def reparse(detail: Mapping[str, Any]) -> Scored | tuple[Scored, Scored]:
    """A new `Scored` (pointwise) or `(chosen, rejected)` pair (pairwise) from a stored detail."""
    if not is_judge_detail(detail):
        raise ScorerError("not a judge detail: it has no 'protocol' and 'views' (was the run scored by a judge?)")
    protocol = make_protocol(str(detail["protocol"]), **dict(detail.get("params") or {}))
    return protocol.settle(detail["views"])


def reparse_all(details: Iterable[Mapping[str, Any]]) -> list[Scored | tuple[Scored, Scored]]:
    return [reparse(d) for d in details]
