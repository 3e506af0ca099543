"""Lay a micro-batch of encoded pairs out for one forward pass, chosen and rejected together.

Two layouts, both read the reward at the last real token of each side:

- `padded`: one row per sequence (all chosen rows, then all rejected rows), right-padded to the
  longest, with a 2-D attention mask. The plain path, and the reference in the tests.
- `packed`: pairs are placed one after another in as few rows as fit `pack_tokens` (first fit,
  longest first), with positions restarting per sequence and a block-diagonal causal mask, so
  no compute goes to padding between sequences. Unset, `pack_tokens` is the longest pair when
  the mask is dense (sdpa, eager: their cost grows with the square of the row) and unlimited
  for flex and flash attention, which skip the masked blocks. With `share_prefix` a pair is laid out as
  `[common prefix | chosen tail | rejected tail]`: the rejected tail sees the prefix but not the
  chosen tail, and takes the positions it would have had alone, so every hidden state equals
  the one of the sequence on its own while the prefix (system + prompt, usually the bulk) is
  computed once.

The LM term gets explicit (position → next chosen token) targets rather than shifted labels,
so no target ever crosses from one packed sequence into the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from themis_rm.scoring.batching import pack_rows
from themis_rm.training.data import Encoded

CHOSEN, REJECTED, SHARED = 1, 2, 0


@dataclass
class Batch:
    input_ids: torch.Tensor                 # [R, T]
    position_ids: torch.Tensor              # [R, T]
    attention_mask: torch.Tensor | None     # [R, T] (padded), [R, 1, T, T] bool (packed), None (flash)
    segments: torch.Tensor | None           # [R, T] sequence id per slot (packed; -1 = padding)
    branches: torch.Tensor | None           # [R, T] SHARED, CHOSEN or REJECTED (packed)
    pool_chosen: torch.Tensor               # [P] flat index (row * T + column) of each chosen side's last token
    pool_rejected: torch.Tensor             # [P]
    lm_index: torch.Tensor                  # [N] flat positions whose next chosen token the LM term predicts
    lm_targets: torch.Tensor                # [N]
    n_pairs: int
    seq_tokens: int                         # tokens of the pairs as sequences (chosen + rejected lengths)
    real_tokens: int                        # tokens actually computed (a shared prefix counts once)
    slots: int                              # R × T, padding included
    attended: int                           # (query, key) pairs attended among real tokens, for FLOPs
    #: per row, (start, shared prefix, chosen length, rejected length) of each pair (packed), for sdpa_segments
    units: list[list[tuple[int, int, int, int]]] | None = None

    def to(self, device: torch.device | str) -> Batch:
        moved = {}
        for name, value in self.__dict__.items():
            moved[name] = value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        return Batch(**moved)


def shared_prefix_length(chosen: np.ndarray, rejected: np.ndarray) -> int:
    """Longest common prefix, leaving at least one token of each side outside it."""
    n = min(len(chosen), len(rejected)) - 1
    if n <= 0:
        return 0
    diff = np.flatnonzero(chosen[:n] != rejected[:n])
    return int(diff[0]) if len(diff) else n


def _triangle(n: int) -> int:
    return n * (n + 1) // 2


def collate(
    examples: Sequence[Encoded],
    layout: str = "packed",
    share_prefix: bool = True,
    pack_tokens: int | None = None,
    pad_id: int = 0,
    mask: str = "dense",
) -> Batch:
    """`mask`: `dense` (a 4-D boolean mask, for sdpa/eager), `segments` (ids only, for flex
    attention) or `none` (position ids and pair spans only, for sdpa_segments and flash-attention)."""
    if not examples:
        raise ValueError("cannot collate an empty micro-batch")
    if layout == "padded":
        return _padded(examples, pad_id)
    if layout != "packed":
        raise ValueError(f"unknown layout {layout!r}")
    return _packed(examples, share_prefix, pack_tokens, pad_id, mask)


def _padded(examples: Sequence[Encoded], pad_id: int) -> Batch:
    sequences = [e.chosen for e in examples] + [e.rejected for e in examples]
    width = max(len(s) for s in sequences)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    attention = np.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = seq
        attention[row, :len(seq)] = 1
    p = len(examples)
    pool = [row * width + len(seq) - 1 for row, seq in enumerate(sequences)]
    lm_index, lm_targets = [], []
    for row, e in enumerate(examples):
        positions = np.arange(max(e.label_start, 1) - 1, len(e.chosen) - 1)
        lm_index.append(row * width + positions)
        lm_targets.append(e.chosen[positions + 1])
    positions = np.broadcast_to(np.arange(width), ids.shape).copy()
    real = sum(len(s) for s in sequences)
    return Batch(
        input_ids=torch.from_numpy(ids), position_ids=torch.from_numpy(positions),
        attention_mask=torch.from_numpy(attention), segments=None, branches=None,
        pool_chosen=torch.tensor(pool[:p]), pool_rejected=torch.tensor(pool[p:]),
        lm_index=torch.from_numpy(np.concatenate(lm_index)), lm_targets=torch.from_numpy(np.concatenate(lm_targets)),
        n_pairs=p, seq_tokens=real, real_tokens=real, slots=ids.size,
        attended=sum(_triangle(len(s)) for s in sequences),
    )


def _unit_size(e: Encoded, share: bool) -> tuple[int, int]:
    s = shared_prefix_length(e.chosen, e.rejected) if share else 0
    return s, len(e.chosen) + len(e.rejected) - s


def _packed(examples: Sequence[Encoded], share: bool, cap: int | None, pad_id: int, mask: str) -> Batch:
    units = [_unit_size(e, share) for e in examples]
    if cap is None and mask == "dense":  # a dense mask costs the square of the row: no wider than the longest pair
        cap = max(u[1] for u in units)
    sizes = [u[1] for u in units]
    rows = pack_rows(sizes, cap if cap is not None else sum(sizes))
    fill = [sum(sizes[i] for i in row) for row in rows]
    width = max(fill)
    n_rows = len(rows)
    ids = np.full((n_rows, width), pad_id, dtype=np.int64)
    pos = np.zeros_like(ids)
    seg = np.full_like(ids, -1)
    branch = np.zeros_like(ids)
    p = len(examples)
    pool_c, pool_r = [0] * p, [0] * p
    lm_index, lm_targets = [], []
    attended = 0
    spans: list[list[tuple[int, int, int, int]]] = []
    for r, members in enumerate(rows):
        at = 0
        spans.append([])
        for i in sorted(members):
            e, (s, size) = examples[i], units[i]
            nc, nr = len(e.chosen), len(e.rejected)
            base = r * width + at
            spans[r].append((at, s, nc, nr))
            if share:
                tail_c, tail_r = e.chosen[s:], e.rejected[s:]
                block = np.concatenate([e.chosen[:s], tail_c, tail_r])
                block_pos = np.concatenate([np.arange(s), np.arange(s, nc), np.arange(s, nr)])
                block_branch = np.concatenate([np.full(s, SHARED), np.full(nc - s, CHOSEN), np.full(nr - s, REJECTED)])
                block_seg = np.full(size, i)
                pool_c[i], pool_r[i] = base + nc - 1, base + nc + (nr - s) - 1
                attended += _triangle(s) + (nc - s) * s + _triangle(nc - s) + (nr - s) * s + _triangle(nr - s)
            else:
                block = np.concatenate([e.chosen, e.rejected])
                block_pos = np.concatenate([np.arange(nc), np.arange(nr)])
                block_branch = np.zeros(size, dtype=np.int64)
                block_seg = np.concatenate([np.full(nc, 2 * i), np.full(nr, 2 * i + 1)])
                pool_c[i], pool_r[i] = base + nc - 1, base + nc + nr - 1
                attended += _triangle(nc) + _triangle(nr)
            ids[r, at:at + size] = block
            pos[r, at:at + size] = block_pos
            seg[r, at:at + size] = block_seg
            branch[r, at:at + size] = block_branch
            positions = np.arange(max(e.label_start, 1) - 1, nc - 1)
            lm_index.append(base + positions)  # chosen position p sits at base + p in both layouts
            lm_targets.append(e.chosen[positions + 1])
            at += size
        if at < width:  # padding continues the positions of its own block so that no row is empty of keys
            pos[r, at:] = np.arange(width - at)
    seg_t, branch_t = torch.from_numpy(seg), torch.from_numpy(branch)
    attention = dense_mask(seg_t, branch_t) if mask == "dense" else None
    real = sum(u[1] for u in units)
    return Batch(
        input_ids=torch.from_numpy(ids), position_ids=torch.from_numpy(pos), attention_mask=attention,
        segments=seg_t if mask != "none" else None, branches=branch_t if mask != "none" else None,
        pool_chosen=torch.tensor(pool_c), pool_rejected=torch.tensor(pool_r),
        lm_index=torch.from_numpy(np.concatenate(lm_index)), lm_targets=torch.from_numpy(np.concatenate(lm_targets)),
        n_pairs=p, seq_tokens=sum(e.n_tokens for e in examples), real_tokens=real, slots=ids.size,
        attended=attended, units=spans,
    )


def allowed(seg_q, seg_k, branch_q, branch_k, q_idx, kv_idx):
    """The packed attention rule, shared by the dense mask and the flex-attention block mask."""
    same_branch = (branch_k == SHARED) | (branch_k == branch_q)
    return (kv_idx <= q_idx) & (seg_q == seg_k) & same_branch


def dense_mask(segments: torch.Tensor, branches: torch.Tensor) -> torch.Tensor:
    """[R, 1, T, T] boolean mask (True = attend); padding slots attend to the padding before them."""
    width = segments.shape[1]
    index = torch.arange(width)
    mask = allowed(segments[:, :, None], segments[:, None, :], branches[:, :, None], branches[:, None, :],
                   index[:, None], index[None, :])
    return mask[:, None]
