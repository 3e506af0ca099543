"""Token sequences → model batches: length-sorted, under a token budget, padded or packed.

Pure functions over lists and numpy arrays, so each can be tested without a model.

Three collations give the same scores (the fidelity tests prove it):

| collation | one batch is | attention sees |
|---|---|---|
| `collate_padded` | one row per sequence, padded to the longest (left or right) | a padding mask |
| `collate_packed` | rows filled first-fit with whole sequences | position ids that restart at 0 for each sequence; transformers turns them into a block-diagonal causal mask (sdpa, eager) or variable-length kernels (flash attention, one row) |
| `collate_tree` | rows filled first-fit with units: a token prefix that several sequences share (the prompt of a pair), stored once, followed by each sequence's remainder | an explicit causal mask in which each remainder sees the shared prefix and itself, never its siblings |

Position ids are always passed, so every token gets the position it would have alone; a shared
prefix is computed once and its keys and values serve every sequence that starts with it, which
gives the same numbers as computing it for each. The token budget counts slots (tokens plus
padding), the memory a forward pass needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LAYOUTS = ("padded", "packed")
PADDING_SIDES = ("right", "left")


@dataclass
class HostBatch:
    """A batch in host memory. `members[k]` is the caller's index of the k-th sequence in it;
    `read_index[k]` (and `anchor_index[k]`) are flat positions into the `rows × width` grid.

    `units` and `branches` (rows × width, tree collation only) describe the attention mask:
    a token sees earlier tokens of its own unit that are in the shared prefix (branch 0) or in
    its own branch."""

    members: np.ndarray
    input_ids: np.ndarray
    position_ids: np.ndarray
    attention_mask: np.ndarray | None
    read_index: np.ndarray
    anchor_index: np.ndarray | None
    lengths: np.ndarray  # of the whole sequences, in `members` order
    computed: int = -1  # tokens actually run (less than `lengths.sum()` when prefixes are shared)
    attention_area: int = -1  # query-key pairs of causal attention, for FLOP counts
    units: np.ndarray | None = None
    branches: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.computed < 0:
            self.computed = int(self.lengths.sum())
        if self.attention_area < 0:
            self.attention_area = int((self.lengths.astype(np.int64) ** 2).sum())

    @property
    def tokens(self) -> int:
        """Tokens of the scored sequences, as if each were run alone."""
        return int(self.lengths.sum())

    @property
    def slots(self) -> int:
        return int(self.input_ids.size)


@dataclass
class Unit:
    """Sequences that start with the same tokens: the prefix once, then each one's remainder."""

    members: list[int]
    prefix: list[int]
    suffixes: list[list[int]]

    @property
    def size(self) -> int:
        return len(self.prefix) + sum(len(s) for s in self.suffixes)


def _common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    stacked = np.asarray([s[:shortest] for s in sequences], dtype=np.int64)
    differs = (stacked != stacked[0]).any(axis=0)
    return int(differs.argmax()) if differs.any() else shortest


def share_prefixes(
    members: Sequence[int],
    sequences: Sequence[Sequence[int]],
    keys: Sequence[object],
    capacity: int,
    min_shared: int = 8,
) -> list[Unit]:
    """Group sequences with the same key (e.g. the rendered prompt) into units that store their
    common token prefix once. The prefix is found on the tokens, so a key only proposes
    candidates. A unit holds at most `capacity` tokens (unless one sequence alone is longer);
    a group too big for one unit is split, each part repeating the prefix."""
    groups: dict[object, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    units: list[Unit] = []
    for positions in groups.values():
        seqs = [sequences[p] for p in positions]
        shared = _common_prefix(seqs) if len(seqs) > 1 else 0
        if shared < min_shared:
            units.extend(Unit([members[p]], [], [list(sequences[p])]) for p in positions)
            continue
        prefix = list(seqs[0][:shared])
        current = Unit([], prefix, [])
        for p in sorted(positions, key=lambda q: -len(sequences[q])):
            rest = list(sequences[p][shared:])
            if current.suffixes and current.size + len(rest) > capacity:
                units.append(current)
                current = Unit([], prefix, [])
            current.members.append(members[p])
            current.suffixes.append(rest)
        units.append(current)
    return units


def plan_batches(lengths: Sequence[int], budget: int, layout: str = "padded") -> list[list[int]]:
    """Group sequence indices, longest first, so that each group fits `budget` slots.

    For `padded` a group costs (count × longest); for `packed` the sum of lengths. A sequence
    longer than the budget gets a batch of its own rather than being refused.
    """
    if budget < 1:
        raise ValueError("the token budget must be >= 1")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index in order:
        length = lengths[index]
        if current:
            cost = (len(current) + 1) * lengths[current[0]] if layout == "padded" else used + length
            if cost > budget:
                groups.append(current)
                current, used = [], 0
        current.append(index)
        used += length
    if current:
        groups.append(current)
    return groups


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: positions into `lengths`, grouped into rows of at most `capacity` tokens."""
    rows: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        length = lengths[index]
        for row, room in enumerate(free):
            if length <= room:
                rows[row].append(index)
                free[row] -= length
                break
        else:
            rows.append([index])
            free.append(capacity - length)
    return rows


def collate_padded(
    members: Sequence[int],
    sequences: Sequence[Sequence[int]],
    reads: Sequence[int],
    anchors: Sequence[int] | None,
    pad_id: int,
    side: str = "right",
    mask: bool = True,
) -> HostBatch:
    """One row per sequence; `reads`/`anchors` are positions within each sequence.

    Right padding numbers every row's positions 0, 1, 2, ... to the end, so that with
    `mask=False` a causal model needs no mask at all: a real token only sees earlier tokens,
    and those are all real. Left padding always needs the mask."""
    if side not in PADDING_SIDES:
        raise ValueError(f"padding side must be one of {', '.join(PADDING_SIDES)}, got {side!r}")
    width = max(len(s) for s in sequences)
    rows = len(sequences)
    input_ids = np.full((rows, width), pad_id, dtype=np.int64)
    position_ids = np.zeros((rows, width), dtype=np.int64)
    attention_mask = np.zeros((rows, width), dtype=np.int64)
    read_index = np.empty(rows, dtype=np.int64)
    anchor_index = np.empty(rows, dtype=np.int64) if anchors is not None else None
    if not mask and side == "left":
        raise ValueError("left padding needs an attention mask")
    for row, sequence in enumerate(sequences):
        length = len(sequence)
        offset = width - length if side == "left" else 0
        input_ids[row, offset : offset + length] = sequence
        position_ids[row, offset:] = np.arange(width - offset)
        attention_mask[row, offset : offset + length] = 1
        read_index[row] = row * width + offset + reads[row]
        if anchor_index is not None:
            anchor_index[row] = row * width + offset + anchors[row]  # type: ignore[index]
    return HostBatch(
        members=np.asarray(members, dtype=np.int64),
        input_ids=input_ids,
        position_ids=position_ids,
        attention_mask=attention_mask if mask else None,
        read_index=read_index,
        anchor_index=anchor_index,
        lengths=np.asarray([len(s) for s in sequences], dtype=np.int64),
    )


def collate_packed(
    members: Sequence[int],
    sequences: Sequence[Sequence[int]],
    reads: Sequence[int],
    anchors: Sequence[int] | None,
    pad_id: int,
    capacity: int | None = None,
) -> HostBatch:
    """Sequences packed into rows of `capacity` tokens (default: the longest sequence; for one
    row holding everything, pass the total). A row's unused tail is padding whose positions
    restart at 0, so it forms a segment of its own that no sequence attends to."""
    lengths = [len(s) for s in sequences]
    capacity = max(capacity or 0, max(lengths))
    rows = pack_rows(lengths, capacity)
    width = max(sum(lengths[i] for i in row) for row in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    position_ids = np.zeros((len(rows), width), dtype=np.int64)
    order = [i for row in rows for i in row]
    read_index = np.empty(len(order), dtype=np.int64)
    anchor_index = np.empty(len(order), dtype=np.int64) if anchors is not None else None
    out = 0
    for row_number, row in enumerate(rows):
        offset = 0
        for i in row:
            length = lengths[i]
            input_ids[row_number, offset : offset + length] = sequences[i]
            position_ids[row_number, offset : offset + length] = np.arange(length)
            base = row_number * width + offset
            read_index[out] = base + reads[i]
            if anchor_index is not None:
                anchor_index[out] = base + anchors[i]  # type: ignore[index]
            offset += length
            out += 1
        position_ids[row_number, offset:] = np.arange(width - offset)
    return HostBatch(
        members=np.asarray([members[i] for i in order], dtype=np.int64),
        input_ids=input_ids,
        position_ids=position_ids,
        attention_mask=None,
        read_index=read_index,
        anchor_index=anchor_index,
        lengths=np.asarray([lengths[i] for i in order], dtype=np.int64),
    )


def collate_tree(units: Sequence[Unit], reads: dict[int, int], anchors: dict[int, int] | None,
                 pad_id: int, capacity: int | None = None) -> HostBatch:
    """Units packed first-fit into rows of `capacity` tokens (default: the largest unit).
    `reads`/`anchors` map a member to a position in its whole sequence."""
    sizes = [u.size for u in units]
    capacity = max(capacity or 0, max(sizes))
    rows = pack_rows(sizes, capacity)
    width = max(sum(sizes[i] for i in row) for row in rows)
    shape = (len(rows), width)
    input_ids = np.full(shape, pad_id, dtype=np.int64)
    position_ids = np.zeros(shape, dtype=np.int64)
    unit_ids = np.full(shape, -1, dtype=np.int64)
    branches = np.zeros(shape, dtype=np.int64)
    members: list[int] = []
    lengths: list[int] = []
    read_index: list[int] = []
    anchor_index: list[int] = []
    area = 0
    for row_number, row in enumerate(rows):
        offset = 0
        for unit_number in row:
            unit = units[unit_number]
            shared = len(unit.prefix)
            base = row_number * width
            input_ids[row_number, offset : offset + shared] = unit.prefix
            position_ids[row_number, offset : offset + shared] = np.arange(shared)
            unit_ids[row_number, offset : offset + unit.size] = unit_number
            area += shared * shared
            prefix_at = offset
            offset += shared
            for branch, (member, rest) in enumerate(zip(unit.members, unit.suffixes), start=1):
                input_ids[row_number, offset : offset + len(rest)] = rest
                position_ids[row_number, offset : offset + len(rest)] = np.arange(shared, shared + len(rest))
                branches[row_number, offset : offset + len(rest)] = branch
                area += len(rest) ** 2 + 2 * shared * len(rest)
                members.append(member)
                lengths.append(shared + len(rest))
                # a position in the whole sequence → the slot that holds it (prefix or own remainder)
                for position, out in ((reads[member], read_index),
                                      *(((anchors[member], anchor_index),) if anchors is not None else ())):
                    out.append(base + (prefix_at + position if position < shared else offset + position - shared))
                offset += len(rest)
        # the padded tail: a unit of its own per row, so no real token sees it and no row is empty
        unit_ids[row_number, offset:] = len(units) + row_number
        position_ids[row_number, offset:] = np.arange(width - offset)
    return HostBatch(
        members=np.asarray(members, dtype=np.int64),
        input_ids=input_ids,
        position_ids=position_ids,
        attention_mask=None,
        read_index=np.asarray(read_index, dtype=np.int64),
        anchor_index=np.asarray(anchor_index, dtype=np.int64) if anchors is not None else None,
        lengths=np.asarray(lengths, dtype=np.int64),
        computed=int(sum(sizes)),
        attention_area=int(area),
        units=unit_ids,
        branches=branches,
    )


def tree_mask(units: Any, branches: Any) -> Any:
    """The boolean (rows, 1, width, width) mask of a tree batch (torch tensors in, torch out):
    same unit, causal, and the key is in the shared prefix or in the query's own branch."""
    import torch

    width = units.shape[-1]
    causal = torch.ones(width, width, dtype=torch.bool, device=units.device).tril()
    same_unit = units[:, :, None] == units[:, None, :]
    visible_branch = (branches[:, None, :] == 0) | (branches[:, :, None] == branches[:, None, :])
    return (same_unit & visible_branch & causal)[:, None]


__all__ = [
    "LAYOUTS", "PADDING_SIDES", "HostBatch", "Unit", "collate_packed", "collate_padded", "collate_tree",
    "pack_rows", "plan_batches", "share_prefixes", "tree_mask",
]
