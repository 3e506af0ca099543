"""Token sequences → model batches: length-sorted, under a token budget, padded or packed.

Pure functions over lists and numpy arrays, so each can be tested without a model.

The two collations here, and the two passes of cached prompts in `prefixes.py`, give the same
scores (the fidelity tests prove it):

| collation | one batch is | attention sees |
|---|---|---|
| `collate_padded` | one row per sequence, padded to the longest (left or right) | a padding mask, or none with right padding (causal) |
| `collate_packed` | rows filled first-fit with whole sequences | position ids that restart at 0 for each sequence; transformers turns them into a block-diagonal causal mask (sdpa, eager) or variable-length kernels (flash attention, one row) |

Position ids are always passed, so every token gets the position it would have alone. The
token budget counts slots (tokens plus padding), the memory a forward pass needs. Every batch
also says, for each slot that is read, which key slots it attends to (`key_spans`): that is
what lets the last layer run at those slots only (`readout.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LAYOUTS = ("padded", "packed")
PADDING_SIDES = ("right", "left")


@dataclass
class HostBatch:
    """One forward pass in host memory. `members[k]` is the caller's index of the k-th sequence
    in it; `read_index[k]` (and `anchor_index[k]`) are flat slots of the `rows × width` grid.

    `key_spans` has one row per read slot, then one per anchor slot: the key slots it attends
    to, as two half-open ranges `[a0, a1)` and `[b0, b1)` of its row (keys of a cached prompt
    come first, then the row's own slots).

    A batch that continues prompts run before (`prefixes.py`) names them: row r continues row
    `prompt_rows[r]` of `prompts`, whose first `prompt_lengths[r]` slots are real tokens."""

    members: np.ndarray
    input_ids: np.ndarray
    position_ids: np.ndarray
    attention_mask: np.ndarray | None
    read_index: np.ndarray
    anchor_index: np.ndarray | None
    lengths: np.ndarray  # of the whole sequences, in `members` order
    computed: int = -1  # tokens actually run (less than `lengths.sum()` when prefixes are shared)
    attention_area: int = -1  # query-key pairs of causal attention, for FLOP counts
    key_spans: np.ndarray | None = None
    prompts: HostBatch | None = None
    prompt_rows: np.ndarray | None = None
    prompt_lengths: np.ndarray | None = None

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


def spans_from(starts: np.ndarray, read_index: np.ndarray, anchor_index: np.ndarray | None, width: int) -> np.ndarray:
    """Key spans of sequences that lie whole in their rows from `starts` (one per sequence): a
    read slot attends to its sequence from the start up to itself (the causal rule)."""
    slots = read_index if anchor_index is None else np.concatenate([read_index, anchor_index])
    first = np.tile(starts, 1 if anchor_index is None else 2)
    spans = np.zeros((len(slots), 4), dtype=np.int64)
    spans[:, 0] = first
    spans[:, 1] = slots % width + 1
    return spans


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
    starts = np.empty(rows, dtype=np.int64)  # slot of each sequence's first token in its row
    if not mask and side == "left":
        raise ValueError("left padding needs an attention mask")
    for row, sequence in enumerate(sequences):
        length = len(sequence)
        offset = width - length if side == "left" else 0
        input_ids[row, offset : offset + length] = sequence
        position_ids[row, offset:] = np.arange(width - offset)
        attention_mask[row, offset : offset + length] = 1
        starts[row] = offset
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
        key_spans=spans_from(starts, read_index, anchor_index, width),
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
    starts = np.empty(len(order), dtype=np.int64)
    out = 0
    for row_number, row in enumerate(rows):
        offset = 0
        for i in row:
            length = lengths[i]
            input_ids[row_number, offset : offset + length] = sequences[i]
            position_ids[row_number, offset : offset + length] = np.arange(length)
            base = row_number * width + offset
            starts[out] = offset
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
        key_spans=spans_from(starts, read_index, anchor_index, width),
    )


__all__ = ["LAYOUTS", "PADDING_SIDES", "HostBatch", "collate_packed", "collate_padded", "pack_rows", "plan_batches",
           "spans_from"]
