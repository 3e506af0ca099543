"""Train / benchmark splits that do not leak: by time window, by repository, or both.

- `time`: each pair goes to the window its commit time falls in (`train=..2019-03` means
  before 1 March 2019; `benchmark=2019-06..2021-01` means from 1 June 2019 up to, not
  including, 1 January 2021). A pair in no window goes to the split `gap`, so nothing is lost
  silently and the gap between windows stays visible.
- `repo`: whole repositories go to one split each, so no benchmark pair shares a codebase
  with training. Repositories are visited in an order fixed by the seed and each goes to the
  split furthest below its target share of pairs, so a single repository lands in the
  largest split and the shares come close to their targets as repositories are added.
- `repo+time`: a pair keeps its split only when its repository and its time agree on it;
  otherwise it goes to `gap`. This is the strictest benchmark.
- `none`: everything is `train`.

The result depends only on the pairs, the seed and the split settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

GAP = "gap"


def parse_date(text: str) -> datetime:
    """`YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a full ISO time; naive times are UTC."""
    text = text.strip()
    try:
        if len(text) == 4 and text.isdigit():
            value = datetime(int(text), 1, 1)
        elif len(text) == 7 and text[4] == "-":
            value = datetime(int(text[:4]), int(text[5:]), 1)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad date {text!r}: use YYYY, YYYY-MM, YYYY-MM-DD or an ISO time") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def timestamp(text: str | None) -> int | None:
    return None if text is None else int(parse_date(text).timestamp())


@dataclass(frozen=True)
class TimeWindow:
    name: str
    start: int | None  # inclusive, seconds since the epoch
    end: int | None  # exclusive

    def __contains__(self, when: int) -> bool:
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    @classmethod
    def parse(cls, spec: str) -> TimeWindow:
        name, eq, span = spec.partition("=")
        if not eq or ".." not in span or not name.strip():
            raise ValueError(f"bad time split {spec!r}: use NAME=START..END, e.g. benchmark=2019-06..2021-01")
        start, _, end = span.partition("..")
        window = cls(name.strip(), timestamp(start or None), timestamp(end or None))
        if window.start is not None and window.end is not None and window.start >= window.end:
            raise ValueError(f"bad time split {spec!r}: the start must come before the end")
        return window


def parse_windows(specs: list[str]) -> list[TimeWindow]:
    windows = [TimeWindow.parse(spec) for spec in specs]
    for i, a in enumerate(windows):
        for b in windows[i + 1:]:
            lo = max(a.start if a.start is not None else -(1 << 62), b.start if b.start is not None else -(1 << 62))
            hi = min(a.end if a.end is not None else 1 << 62, b.end if b.end is not None else 1 << 62)
            if lo < hi:
                raise ValueError(f"time splits {a.name!r} and {b.name!r} overlap")
    return windows


def parse_fractions(specs: list[str]) -> dict[str, float]:
    fractions: dict[str, float] = {}
    for spec in specs:
        name, eq, value = spec.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not eq or not name.strip() or share < 0:
            raise ValueError(f"bad split fraction {spec!r}: use NAME=FRACTION, e.g. train=0.9")
        fractions[name.strip()] = share
    total = sum(fractions.values())
    if not fractions or total <= 0:
        raise ValueError("split fractions must name at least one split with a positive share")
    return {name: share / total for name, share in fractions.items()}


def time_split(when: int, windows: list[TimeWindow]) -> str:
    return next((w.name for w in windows if when in w), GAP)


def repo_splits(pair_counts: Mapping[str, int], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Each repository's split: greedy by deficit, in an order fixed by the seed."""
    order = sorted(pair_counts, key=lambda repo: hashlib.sha256(f"{seed}\x00{repo}".encode()).hexdigest())
    assigned: dict[str, str] = {}
    counts = dict.fromkeys(fractions, 0)
    total = 0
    for repo in order:
        total += pair_counts[repo]
        # first split with the largest deficit; ties go to the split named first
        best = max(fractions, key=lambda name: fractions[name] * total - counts[name])
        assigned[repo] = best
        counts[best] += pair_counts[repo]
    return assigned


def mode(configured: str, windows: list[TimeWindow]) -> str:
    if configured == "auto":
        return "time" if windows else "repo"
    if configured in ("time", "repo+time") and not windows:
        raise ValueError(f"--split {configured} needs at least one --time-split window")
    return configured


def assign(when: int, repo: str, how: str, windows: list[TimeWindow], by_repo: Mapping[str, str]) -> str:
    if how == "none":
        return "train"
    if how == "time":
        return time_split(when, windows)
    if how == "repo":
        return by_repo[repo]
    by_time = time_split(when, windows)
    return by_time if by_time == by_repo[repo] else GAP
