"""Batch planning and collation for the hf scorer: pure functions, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from themis_rm.scoring.batching import collate_packed, collate_padded, pack_rows, plan_batches
from themis_rm.scoring.prefixes import Unit, collate_continued, collate_prompts, share_prefixes


def test_plan_padded_respects_budget_and_sorts_longest_first():
    lengths = [5, 40, 12, 7, 33, 3, 40]
    groups = plan_batches(lengths, budget=80, layout="padded")
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        assert len(group) * max(lengths[i] for i in group) <= 80
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(lengths, reverse=True)
    assert groups[0] == [1, 6]  # the two 40s: a third row would need 120 slots


def test_plan_packed_counts_tokens_and_keeps_oversized_alone():
    lengths = [50, 10, 10, 200, 30]
    groups = plan_batches(lengths, budget=60, layout="packed")
    assert groups[0] == [3]  # longer than the budget: its own batch, never refused
    for group in groups[1:]:
        assert sum(lengths[i] for i in group) <= 60
    assert sorted(i for g in groups for i in g) == list(range(5))


def test_plan_rejects_bad_arguments():
    with pytest.raises(ValueError):
        plan_batches([1], budget=0)
    with pytest.raises(ValueError):
        plan_batches([1], budget=10, layout="ragged")


def test_pack_rows_first_fit_decreasing():
    rows = pack_rows([6, 5, 4, 3, 2], capacity=8)
    assert rows == [[0, 4], [1, 3], [2]]
    assert all(sum([6, 5, 4, 3, 2][i] for i in row) <= 8 for row in rows)


@pytest.mark.parametrize("side", ["right", "left"])
def test_collate_padded_positions_and_reads(side):
    seqs = [[11, 12, 13], [21, 22, 23, 24, 25]]
    batch = collate_padded([7, 9], seqs, reads=[2, 3], anchors=[0, 1], pad_id=0, side=side)
    assert batch.input_ids.shape == (2, 5)
    assert batch.tokens == 8 and batch.slots == 10
    flat = batch.input_ids.reshape(-1)
    assert flat[batch.read_index].tolist() == [13, 24]
    assert flat[batch.anchor_index].tolist() == [11, 22]
    positions = batch.position_ids.reshape(-1)
    assert positions[batch.read_index].tolist() == [2, 3]  # as if each sequence were alone
    if side == "left":
        assert batch.input_ids[0].tolist() == [0, 0, 11, 12, 13]
        assert batch.attention_mask[0].tolist() == [0, 0, 1, 1, 1]
    else:
        assert batch.input_ids[0].tolist() == [11, 12, 13, 0, 0]
    assert batch.members.tolist() == [7, 9]


def test_collate_packed_restarts_positions_per_sequence():
    seqs = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11], [12]]
    batch = collate_packed([10, 11, 12, 13], seqs, reads=[5, 1, 2, 0], anchors=None, pad_id=0)
    assert batch.attention_mask is None
    # capacity = the longest sequence (6): rows [6] and [3, 2, 1]
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5, 6], [9, 10, 11, 7, 8, 12]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 4, 5], [0, 1, 2, 0, 1, 0]]
    flat = batch.input_ids.reshape(-1)
    by_member = dict(zip(batch.members.tolist(), flat[batch.read_index].tolist()))
    assert by_member == {10: 6, 11: 8, 12: 11, 13: 12}
    assert batch.tokens == batch.slots == 12


def test_collate_packed_tail_is_its_own_segment():
    batch = collate_packed([0, 1], [[1, 2, 3], [4]], reads=[2, 0], anchors=None, pad_id=0, capacity=6)
    assert batch.input_ids.tolist() == [[1, 2, 3, 4]]
    batch = collate_packed([0, 1, 2], [[1, 2, 3], [4, 5], [6, 7]], reads=[2, 1, 1], anchors=None, pad_id=0)
    assert batch.input_ids.tolist() == [[1, 2, 3], [4, 5, 0], [6, 7, 0]]  # sequences are never split
    # a row's padded tail restarts at position 0: a segment of its own that no real token attends to
    assert batch.position_ids.tolist() == [[0, 1, 2], [0, 1, 0], [0, 1, 0]]
    assert batch.slots == 9 and batch.tokens == 7


def test_collate_packed_flat_row():
    seqs = [[1, 2], [3, 4, 5], [6]]
    batch = collate_packed([0, 1, 2], seqs, reads=[1, 2, 0], anchors=None, pad_id=0, capacity=6)
    assert batch.input_ids.shape == (1, 6)
    assert batch.slots == batch.tokens == 6


def test_share_prefixes_finds_the_common_tokens():
    seqs = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 9], [1, 2, 7], [8, 8, 8]]
    units = share_prefixes([10, 11, 12, 13], seqs, keys=["a", "a", "b", "c"], limits=[5, 4, 2, 2], min_shared=2)
    shared = next(u for u in units if u.prefix)
    assert shared.prefix == [1, 2, 3, 4] and shared.members == [10, 11]
    assert shared.suffixes == [[5, 6], [9]]
    assert [u.members for u in units if not u.prefix] == [[12], [13]]  # other keys: alone


def test_share_prefixes_stops_before_the_first_read_slot():
    """Every slot a head reads stays in the remainders, so the prompt pass is read by nobody."""
    seqs = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7]]
    (unit,) = share_prefixes([0, 1], seqs, keys=["p", "p"], limits=[5, 3], min_shared=2)
    assert unit.prefix == [1, 2, 3] and unit.suffixes == [[4, 5, 6], [4, 5, 7]]
    alone = share_prefixes([0, 1], seqs, keys=["p", "p"], limits=[5, 1], min_shared=2)
    assert [u.prefix for u in alone] == [[], []]  # too little left to share


def test_collate_prompts_and_continued_rows():
    units = [Unit([0, 1], [5, 6, 7], [[8, 9], [10]]), Unit([2], [11, 12], [[13, 14, 15]])]
    prompts = collate_prompts(units, pad_id=0, mask=False)
    assert prompts.input_ids.tolist() == [[5, 6, 7], [11, 12, 0]] and prompts.attention_mask is None
    assert prompts.members.size == 0 and prompts.tokens == 0 and prompts.computed == 5
    rows = [(1, 2, [13, 14, 15]), (0, 0, [8, 9]), (0, 1, [10])]
    batch = collate_continued(prompts, [3, 2], rows, reads={0: 4, 1: 3, 2: 4}, anchors={0: 3, 1: 3, 2: 2}, pad_id=0)
    assert batch.input_ids.tolist() == [[13, 14, 15], [8, 9, 0], [10, 0, 0]]
    assert batch.position_ids.tolist() == [[2, 3, 4], [3, 4, 5], [3, 4, 5]]  # continuing each prompt
    assert batch.prompt_rows.tolist() == [1, 0, 0] and batch.prompt_lengths.tolist() == [2, 3, 3]
    flat = batch.input_ids.reshape(-1)
    assert dict(zip(batch.members.tolist(), flat[batch.read_index].tolist())) == {2: 15, 0: 9, 1: 10}
    assert dict(zip(batch.members.tolist(), flat[batch.anchor_index].tolist())) == {2: 13, 0: 8, 1: 10}
    assert batch.tokens == 5 + 5 + 4 and batch.computed == 6
    assert batch.attention_area == (9 + 2 * 2 * 3) + (4 + 2 * 3 * 2) + (1 + 2 * 3 * 1)
    # keys: the 3 cached prompt slots, then the row; a read sees its prompt's real slots and its row so far
    assert batch.key_spans.tolist() == [[0, 2, 3, 6], [0, 3, 3, 5], [0, 3, 3, 4],  # reads
                                        [0, 2, 3, 4], [0, 3, 3, 4], [0, 3, 3, 4]]  # anchors
    with pytest.raises(ValueError, match="not in its remainder"):
        collate_continued(prompts, [3, 2], rows, reads={0: 1, 1: 3, 2: 4}, anchors=None, pad_id=0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_key_spans_of_padded_and_packed_rows(side):
    """A read slot attends to its own sequence up to itself, wherever the sequence sits in its row."""
    seqs = [[11, 12, 13], [21, 22, 23, 24, 25]]
    padded = collate_padded([0, 1], seqs, reads=[2, 3], anchors=[0, 1], pad_id=0, side=side)
    first = [2, 0] if side == "left" else [0, 0]
    assert padded.key_spans.tolist() == [[first[0], first[0] + 3, 0, 0], [first[1], 4, 0, 0],
                                         [first[0], first[0] + 1, 0, 0], [first[1], 2, 0, 0]]
    packed = collate_packed([0, 1], seqs, reads=[2, 3], anchors=None, pad_id=0, capacity=8)
    assert packed.input_ids.tolist() == [[21, 22, 23, 24, 25, 11, 12, 13]]
    assert dict(zip(packed.members.tolist(), packed.key_spans.tolist())) == {1: [0, 4, 0, 0], 0: [5, 8, 0, 0]}
    assert np.array_equal(packed.key_spans[:, 1] - 1, packed.read_index % 8)
