"""Choose, per engine chunk, the batch layout that costs the fewest FLOPs.

Every layout gives the same scores (the probes at load time and the fidelity tests check it),
so the choice is only about speed, and it depends on the model: prefix sharing saves the
prompt's matrix work but needs an explicit mask, which makes attention cost the full square
instead of the causal half; unmasked right padding keeps the causal fast path but pays for
padding. The cost model counts 2 FLOPs per weight per slot, and for attention 2·width·L²
when the kernel can skip the masked half (causal) or 4·width·L² when it cannot (explicit mask).

| plan | when allowed | cost per batch |
|---|---|---|
| `padded` | always | rows · (2N·T + c·width·T²), c = 2 without a mask (right padding, verified), else 4 |
| `tree` | packing verified with explicit masks | rows · (2N·T + 4·width·T²), T = the widest row |
| `tree+padded` | as `tree` | `tree` for sequences that share a prefix, `padded` for the rest |
| `rows` | position-id packing verified (sliding-window models) | as `tree`, without shared prefixes |
| `flat` | flash attention (variable-length kernels) | 2N·tokens + 2·width·Σ L² |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from themis_rm.scoring.batching import (
    HostBatch,
    Unit,
    collate_packed,
    collate_padded,
    collate_tree,
    pack_rows,
    plan_batches,
    share_prefixes,
)


@dataclass(frozen=True)
class Capabilities:
    """What the loaded model was verified to accept, and its size for the cost model."""

    packing: str | None  # "tree", "rows", "flat" or None
    causal_padding: bool  # right padding without a mask gives the same scores
    padding_side: str
    pad_id: int
    linear_flops: float  # per token: 2 × matmul weights
    attention_width: int  # layers × heads × head size


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
    if "packed" in allowed and caps.packing == "tree":
        units = share_prefixes(members, sequences, keys, budget)
        read_of = dict(zip(members, reads))
        anchor_of = dict(zip(members, anchors)) if anchors is not None else None
        plans.append(_tree(units, read_of, anchor_of, budget, caps))
        shared = [u for u in units if _worth_sharing(u, caps)]
        if shared and len(shared) < len(units) and "padded" in allowed:
            # the others keep the causal fast path of unmasked padding
            tree_members = {m for u in shared for m in u.members}
            keep = [k for k, m in enumerate(members) if m not in tree_members]
            plans.append(_combine("tree+padded", _tree(shared, read_of, anchor_of, budget, caps), _padded(
                [members[k] for k in keep], [sequences[k] for k in keep], [reads[k] for k in keep],
                [anchors[k] for k in keep] if anchors is not None else None, budget, caps)))
    if "packed" in allowed and caps.packing in ("rows", "flat"):
        plans.append(_rows(members, sequences, reads, anchors, budget, caps))
    if not plans:
        raise ValueError(f"no batch layout allowed among {list(allowed)} with packing {caps.packing!r}")
    return min(plans, key=lambda plan: plan.cost)


def _padded(members, sequences, reads, anchors, budget, caps: Capabilities) -> Plan:
    lengths = [len(s) for s in sequences]
    groups = plan_batches(lengths, budget, "padded")
    unmasked = caps.causal_padding and caps.padding_side == "right"
    factor = 2 if unmasked else 4
    cost = 0.0
    for group in groups:
        width = max(lengths[k] for k in group)
        cost += len(group) * (caps.linear_flops * width + factor * caps.attention_width * width * width)

    def prepare(group: list[int]) -> HostBatch:
        return collate_padded([members[k] for k in group], [sequences[k] for k in group], [reads[k] for k in group],
                              [anchors[k] for k in group] if anchors is not None else None, caps.pad_id,
                              caps.padding_side, mask=not unmasked)

    return Plan("padded", groups, prepare, cost)


def _worth_sharing(unit: Unit, caps: Capabilities) -> bool:
    """Whether computing the prefix once (under a mask) beats running each sequence alone."""
    if len(unit.members) < 2:
        return False
    together = caps.linear_flops * unit.size + 4 * caps.attention_width * unit.size**2
    shared = len(unit.prefix)
    alone = sum(caps.linear_flops * (shared + len(rest)) + 2 * caps.attention_width * (shared + len(rest)) ** 2
                for rest in unit.suffixes)
    return together < alone


def _combine(name: str, *parts: Plan) -> Plan:
    batches = [(number, batch) for number, part in enumerate(parts) for batch in part.batches]
    return Plan(name, batches, lambda item: parts[item[0]].prepare(item[1]), sum(p.cost for p in parts))


def _tree(units: list[Unit], read_of: dict[int, int], anchor_of: dict[int, int] | None, budget: int,
          caps: Capabilities) -> Plan:
    sizes = [u.size for u in units]
    groups = plan_batches(sizes, budget, "packed")
    cost = 0.0
    for group in groups:
        group_sizes = [sizes[k] for k in group]
        rows = pack_rows(group_sizes, max(group_sizes))
        width = max(sum(group_sizes[i] for i in row) for row in rows)
        cost += len(rows) * (caps.linear_flops * width + 4 * caps.attention_width * width * width)
    batches = [[units[k] for k in group] for group in groups]
    return Plan("tree", batches, lambda plan: collate_tree(plan, read_of, anchor_of, caps.pad_id), cost)


def _rows(members, sequences, reads, anchors, budget, caps: Capabilities) -> Plan:
    lengths = [len(s) for s in sequences]
    groups = plan_batches(lengths, budget, "packed")
    flat = caps.packing == "flat"
    cost = 0.0
    for group in groups:
        group_lengths = [lengths[k] for k in group]
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
