"""Choose, per engine chunk, the batch layout that costs the fewest FLOPs.

Every layout gives the same scores (the probes at load time and the fidelity tests check it),
so the choice is only about speed, and it depends on the model. The cost model counts 2 FLOPs
per weight per slot, for attention 2·width·L² when the kernel can skip the masked half (causal)
or 4·width·(queries × keys) when it cannot (explicit mask), and a fixed cost per forward pass
(`pass_overhead`, in FLOPs) for what a pass costs beyond its arithmetic.

| plan | when allowed | cost per batch |
|---|---|---|
| `padded` | always | rows · (2N·T + c·width·T²), c = 2 without a mask (right padding, verified), else 4 |
| `cached` | prompt caching verified (explicit masks work) | prompts: as padded; remainders: rows · (2N·S + 4·width·S·(P + S)); sequences whose prompt is not worth sharing go in padded batches of the same plan |
| `rows` | position-id packing verified (sliding-window models) | rows · (2N·T + 4·width·T²), T = the widest row |
| `flat` | flash attention (variable-length kernels) | 2N·tokens + 2·width·Σ L² |

Prompts are grouped for `cached` longest first, a group taking the next prompt while that costs
less than running it apart; the group's remainders are sorted by length and split into batches
under the token budget, which counts the cached keys of each row too (they are memory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from themis_rm.scoring.batching import HostBatch, collate_packed, collate_padded, pack_rows, plan_batches
from themis_rm.scoring.prefixes import Unit, collate_continued, collate_prompts, share_prefixes


@dataclass(frozen=True)
class Capabilities:
    """What the loaded model was verified to accept, and its size for the cost model."""

    packing: str | None  # "cached", "rows", "flat" or None
    causal_padding: bool  # right padding without a mask gives the same scores
    padding_side: str
    pad_id: int
    linear_flops: float  # per token: 2 × matmul weights
    attention_width: int  # layers × heads × head size
    pass_overhead: float = 0.0  # FLOPs a forward pass costs beyond its arithmetic


@dataclass
class Plan:
    name: str
    batches: list[Any]
    prepare: Callable[[Any], HostBatch]
    cost: float


def plan_chunk(
    members: Sequence[int],
    sequences: Sequence[Sequence[int]],
    reads: Sequence[int],
    anchors: Sequence[int] | None,
    keys: Sequence[object],
    budget: int,
    caps: Capabilities,
    allowed: Sequence[str],
) -> Plan:
    """The cheapest of the allowed plans for these sequences (`members` name them for the caller)."""
    plans = []
    if "padded" in allowed:
        plans.append(_padded(members, sequences, reads, anchors, budget, caps))
    if "packed" in allowed and caps.packing == "cached":
        first_read = [min(r, a) for r, a in zip(reads, anchors)] if anchors is not None else list(reads)
        units = share_prefixes(members, sequences, keys, first_read)
        anchor_of = dict(zip(members, anchors)) if anchors is not None else None
        plans.append(_cached(units, dict(zip(members, reads)), anchor_of, budget, caps, every="padded" not in allowed))
    if "packed" in allowed and caps.packing in ("rows", "flat"):
        plans.append(_rows(members, sequences, reads, anchors, budget, caps))
    if not plans:
        raise ValueError(f"no batch layout allowed among {list(allowed)} with packing {caps.packing!r}")
    return min(plans, key=lambda plan: plan.cost)


def _padded_cost(lengths: Sequence[int], groups: list[list[int]], caps: Capabilities) -> float:
    factor = 2 if caps.causal_padding and caps.padding_side == "right" else 4
    cost = 0.0
    for group in groups:
        width = max(lengths[k] for k in group)
        cost += caps.pass_overhead + len(group) * (caps.linear_flops * width + factor * caps.attention_width * width**2)
    return cost


def _padded(members, sequences, reads, anchors, budget, caps: Capabilities) -> Plan:
    lengths = [len(s) for s in sequences]
    groups = plan_batches(lengths, budget, "padded")
    unmasked = caps.causal_padding and caps.padding_side == "right"

    def prepare(group: list[int]) -> HostBatch:
        return collate_padded([members[k] for k in group], [sequences[k] for k in group], [reads[k] for k in group],
                              [anchors[k] for k in group] if anchors is not None else None, caps.pad_id,
                              caps.padding_side, mask=not unmasked)

    return Plan("padded", groups, prepare, _padded_cost(lengths, groups, caps))


def _cached(units: list[Unit], read_of: dict[int, int], anchor_of: dict[int, int] | None, budget: int,
            caps: Capabilities, every: bool) -> Plan:
    """Shared prompts through the key/value cache; `every`: share every prompt that can be
    (the forced layout), else only those whose sharing the cost model expects to pay."""
    worth = [bool(u.prefix) and (every or _worth_sharing(u, budget, caps)) for u in units]
    shared = [u for u, share in zip(units, worth) if share]
    alone = [(member, list(u.prefix) + rest) for u, share in zip(units, worth) if not share
             for member, rest in zip(u.members, u.suffixes)]
    windows = _windows(shared, budget, caps)
    entries: list[Any] = [("window", number, part) for number, window in enumerate(windows)
                          for part in _parts(window, budget)]
    sequences = [sequence for _, sequence in alone]
    padded = _padded([m for m, _ in alone], sequences, [read_of[m] for m, _ in alone],
                     [anchor_of[m] for m, _ in alone] if anchor_of is not None else None, budget, caps) \
        if alone else None
    entries += [("padded", group) for group in (padded.batches if padded else [])]
    prompts: dict[int, HostBatch] = {}  # one prompt batch per window, shared by its parts

    def prepare(entry: Any) -> HostBatch:
        if entry[0] == "padded":
            return padded.prepare(entry[1])  # type: ignore[union-attr]
        _, number, part = entry
        window = windows[number]
        if number not in prompts:
            prompts.clear()  # windows run in order: the previous one is done
            prompts[number] = collate_prompts(window, caps.pad_id, mask=not caps.causal_padding)
        rows = [(unit, window[unit].members[k], window[unit].suffixes[k]) for unit, k in part]
        return collate_continued(prompts[number], [len(u.prefix) for u in window], rows, read_of, anchor_of,
                                 caps.pad_id)

    cost = sum(_window_cost(w, budget, caps) for w in windows) + (padded.cost if padded else 0.0)
    return Plan("cached" if windows else "padded", entries, prepare, cost)


def _worth_sharing(unit: Unit, budget: int, caps: Capabilities) -> bool:
    """Whether running the prompt once and continuing it beats running each sequence whole
    (passes not counted: either way the unit shares them with others)."""
    lengths = [len(unit.prefix) + len(rest) for rest in unit.suffixes]
    apart = _padded_cost(lengths, [[k] for k in range(len(lengths))], caps) - len(lengths) * caps.pass_overhead
    passes = 1 + len(_parts([unit], budget))
    return _window_cost([unit], budget, caps) - passes * caps.pass_overhead < apart


def _parts(window: list[Unit], budget: int) -> list[list[tuple[int, int]]]:
    """The window's remainders, longest first, in batches whose slots plus cached keys fit `budget`."""
    rows = [(unit, k) for unit, u in enumerate(window) for k in range(len(u.suffixes))]
    cached = max(len(u.prefix) for u in window)
    groups = plan_batches([cached + len(window[unit].suffixes[k]) for unit, k in rows], budget, "padded")
    return [[rows[i] for i in group] for group in groups]


def _window_cost(window: list[Unit], budget: int, caps: Capabilities) -> float:
    cached = max(len(u.prefix) for u in window)
    factor = 2 if caps.causal_padding else 4
    cost = caps.pass_overhead + len(window) * (caps.linear_flops * cached
                                               + factor * caps.attention_width * cached**2)
    for part in _parts(window, budget):
        width = max(len(window[unit].suffixes[k]) for unit, k in part)
        cost += caps.pass_overhead + len(part) * (caps.linear_flops * width
                                                  + 4 * caps.attention_width * width * (cached + width))
    return cost


def _windows(units: list[Unit], budget: int, caps: Capabilities) -> list[list[Unit]]:
    """Prompts longest first; a window takes the next one while its prompt pass fits `budget`
    and running them together costs less than apart."""
    windows: list[list[Unit]] = []
    for unit in sorted(units, key=lambda u: (-len(u.prefix), -max(len(s) for s in u.suffixes))):
        if windows:
            merged = [*windows[-1], unit]
            fits = len(merged) * len(merged[0].prefix) <= budget
            if fits and _window_cost(merged, budget, caps) <= (_window_cost(windows[-1], budget, caps)
                                                               + _window_cost([unit], budget, caps)):
                windows[-1] = merged
                continue
        windows.append([unit])
    return windows


def _rows(members, sequences, reads, anchors, budget, caps: Capabilities) -> Plan:
    lengths = [len(s) for s in sequences]
    groups = plan_batches(lengths, budget, "packed")
    flat = caps.packing == "flat"
    cost = 0.0
    for group in groups:
        group_lengths = [lengths[k] for k in group]
        cost += caps.pass_overhead
        if flat:
            cost += caps.linear_flops * sum(group_lengths) + 2 * caps.attention_width * sum(n * n for n in group_lengths)
            continue
        rows = pack_rows(group_lengths, max(group_lengths))
        width = max(sum(group_lengths[i] for i in row) for row in rows)
        cost += len(rows) * (caps.linear_flops * width + 4 * caps.attention_width * width * width)

    def prepare(group: list[int]) -> HostBatch:
        seqs = [sequences[k] for k in group]
        return collate_packed([members[k] for k in group], seqs, [reads[k] for k in group],
                              [anchors[k] for k in group] if anchors is not None else None, caps.pad_id,
                              sum(len(s) for s in seqs) if flat else None)

    return Plan(caps.packing or "rows", groups, prepare, cost)


__all__ = ["Capabilities", "Plan", "plan_chunk"]
