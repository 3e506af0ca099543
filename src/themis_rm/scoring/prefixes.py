"""Prompts shared by several responses: found once, run once, continued from their cache.

A preference pair scores two responses to one prompt, and a benchmark often asks the same prompt
several times, so a third or more of the tokens of a chunk are prompts that several requests
repeat. Here they run once: a first forward pass over the prompts fills a key/value cache, and
a second runs only the remainders (each row a response and the template's closing tokens)
against the cached keys and values of its own prompt. Attention then costs what it costs for
each sequence alone, with no sibling or neighbour in view: remainder × (prompt + remainder).

| pass | one batch is | attention sees |
|---|---|---|
| prompts (`collate_prompts`) | one row per shared prefix, right padded | causal, as for padded rows |
| remainders (`collate_continued`) | one row per sequence's remainder, right padded, positions continuing the prompt | its own prompt's real slots in the cache, then its own row causally (an explicit mask) |

A prefix always stops before the first slot a head reads (the last token; for a gate, the
prompt's closing token), so every read slot is in the second pass and the first pass is read
by nobody: it only fills the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from themis_rm.scoring.batching import HostBatch, collate_padded


@dataclass
class Unit:
    """Sequences that start with the same tokens: the prefix once, then each one's remainder."""

    members: list[int]
    prefix: list[int]
    suffixes: list[list[int]]


def _common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    stacked = np.asarray([s[:shortest] for s in sequences], dtype=np.int64)
    differs = (stacked != stacked[0]).any(axis=0)
    return int(differs.argmax()) if differs.any() else shortest


def share_prefixes(
    members: Sequence[int],
    sequences: Sequence[Sequence[int]],
    keys: Sequence[object],
    limits: Sequence[int],
    min_shared: int = 8,
) -> list[Unit]:
    """Group sequences with the same key (e.g. the rendered prompt) into units that store their
    common token prefix once. The prefix is found on the tokens, so a key only proposes
    candidates; it stops before `limits[i]` (the first slot read in sequence i). Sequences that
    share fewer than `min_shared` tokens become units of their own, with no prefix."""
    groups: dict[object, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    units: list[Unit] = []
    for positions in groups.values():
        seqs = [sequences[p] for p in positions]
        shared = min(_common_prefix(seqs), *(limits[p] for p in positions)) if len(seqs) > 1 else 0
        if shared < min_shared:
            units.extend(Unit([members[p]], [], [list(sequences[p])]) for p in positions)
            continue
        order = sorted(positions, key=lambda q: -len(sequences[q]))
        units.append(Unit([members[p] for p in order], list(seqs[0][:shared]),
                          [list(sequences[p][shared:]) for p in order]))
    return units


def collate_prompts(units: Sequence[Unit], pad_id: int, mask: bool) -> HostBatch:
    """The first pass: each unit's (non-empty) prefix in a row of its own, right padded. It is
    read by nobody (no members); with `mask=False` it relies on the causal rule, as unmasked
    padding does."""
    batch = collate_padded([], [u.prefix for u in units], [len(u.prefix) - 1 for u in units], None, pad_id,
                           "right", mask=mask)
    nobody = np.zeros(0, dtype=np.int64)
    return replace(batch, members=nobody, read_index=nobody, lengths=nobody, computed=batch.computed,
                   attention_area=batch.attention_area, key_spans=np.zeros((0, 4), dtype=np.int64))


def collate_continued(
    prompts: HostBatch,
    prefix_lengths: Sequence[int],
    rows: Sequence[tuple[int, int, Sequence[int]]],
    reads: dict[int, int],
    anchors: dict[int, int] | None,
    pad_id: int,
) -> HostBatch:
    """The second pass: one right-padded row per `(prompt row, member, remainder)`; row p of
    `prompts` holds `prefix_lengths[p]` real tokens. `reads` and `anchors` map a member to a
    position in its whole sequence, which lies in the remainder."""
    width = max(len(rest) for _, _, rest in rows)
    cached = prompts.input_ids.shape[1]
    prompt_rows = np.asarray([prompt for prompt, _, _ in rows], dtype=np.int64)
    shared = np.asarray(prefix_lengths, dtype=np.int64)[prompt_rows]
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    position_ids = np.zeros((len(rows), width), dtype=np.int64)
    wanted = [reads] + ([anchors] if anchors is not None else [])
    index = np.zeros((len(wanted), len(rows)), dtype=np.int64)
    spans = np.zeros((len(wanted), len(rows), 4), dtype=np.int64)
    for row, (_, member, rest) in enumerate(rows):
        prefix = int(shared[row])
        input_ids[row, : len(rest)] = rest
        position_ids[row] = np.arange(prefix, prefix + width)
        for kind, positions in enumerate(wanted):
            at = positions[member] - prefix
            if not 0 <= at < len(rest):
                raise ValueError(f"slot {positions[member]} of member {member} is not in its remainder")
            index[kind, row] = row * width + at
            spans[kind, row] = (0, prefix, cached, cached + at + 1)
    suffixes = np.asarray([len(rest) for _, _, rest in rows], dtype=np.int64)
    return HostBatch(
        members=np.asarray([member for _, member, _ in rows], dtype=np.int64),
        input_ids=input_ids,
        position_ids=position_ids,
        attention_mask=None,
        read_index=index[0],
        anchor_index=index[1] if anchors is not None else None,
        lengths=shared + suffixes,
        computed=int(suffixes.sum()),
        attention_area=int((suffixes**2 + 2 * shared * suffixes).sum()),
        key_spans=spans.reshape(-1, 4),
        prompts=prompts,
        prompt_rows=prompt_rows,
        prompt_lengths=shared,
    )


__all__ = ["Unit", "collate_continued", "collate_prompts", "share_prefixes"]
