"""Every layout gives the rewards and LM loss of the plain padded batch (the fidelity proof of the speed levers)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from themis_rm.training.data import ChatEncoder, Encoded  # noqa: E402
from themis_rm.training.model import RewardModel, forward_batch, load_backbone  # noqa: E402
from themis_rm.training.packing import collate, dense_mask, shared_prefix_length  # noqa: E402

LAYOUTS = [
    ("packed", False, 10**6),  # padding-free, one row
    ("packed", True, 10**6),   # + shared prefix
    ("packed", True, None),    # rows as wide as the longest pair (the default for dense masks)
    ("packed", True, 150),     # several rows, padded to the longest
    ("packed", False, 120),
]


@pytest.fixture(scope="module")
def encoded(tiny_causal_lm, syn_data):
    from transformers import AutoTokenizer

    from themis_rm.data import read_pairs

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm)
    pairs = read_pairs(str(syn_data)).pairs[:6]
    systems = ["Judge the code.", None, "Judge the code.\n- fast", None, "x", None]
    return ChatEncoder(tokenizer, 512, "error").encode(pairs, systems).examples


@pytest.mark.parametrize("impl", ["sdpa", "eager", "sdpa_segments"])
def test_layouts_agree_with_the_padded_batch(tiny_causal_lm, encoded, impl):
    torch.manual_seed(0)
    model = RewardModel(load_backbone(str(tiny_causal_lm), "sdpa"))
    torch.nn.init.normal_(model.reward_head.weight)
    reference = forward_batch(model, collate(encoded, "padded"), "sdpa", torch.float32, True, "plain")
    ref_grads = torch.autograd.grad(reference[0].sum() - reference[1].sum() + reference[2], list(model.parameters()))
    model.lm.set_attn_implementation(impl)
    mask = "none" if impl == "sdpa_segments" else "dense"
    for layout, share, cap in LAYOUTS:
        batch = collate(encoded, layout, share, cap, mask=mask)
        r_c, r_r, lm = forward_batch(model, batch, impl, torch.float32, True, "chunked")
        assert torch.allclose(r_c, reference[0], atol=1e-4), (layout, share, cap)
        assert torch.allclose(r_r, reference[1], atol=1e-4), (layout, share, cap)
        assert torch.allclose(lm, reference[2], rtol=1e-5), (layout, share, cap)
        grads = torch.autograd.grad(r_c.sum() - r_r.sum() + lm, list(model.parameters()))
        for a, b in zip(grads, ref_grads):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)


def test_shared_prefix_saves_tokens_and_counts_them(encoded):
    plain, shared = collate(encoded, "packed", False, 10**6), collate(encoded, "packed", True, 10**6)
    assert plain.seq_tokens == shared.seq_tokens == sum(e.n_tokens for e in encoded)
    assert shared.real_tokens < plain.real_tokens == plain.seq_tokens
    assert shared.slots == shared.real_tokens  # one row, no padding
    padded = collate(encoded, "padded")
    assert padded.slots > padded.real_tokens
    default = collate(encoded, "packed", True)  # dense mask: rows no wider than the longest pair
    assert default.input_ids.shape[1] == max(len(e.chosen) + len(e.rejected) - shared_prefix_length(e.chosen, e.rejected)
                                             for e in encoded)


def _example(chosen, rejected, label_start=2):
    return Encoded(0, np.array(chosen), np.array(rejected), label_start, False)


def test_packed_targets_and_pooling_by_hand():
    batch = collate([_example([5, 6, 7, 8], [5, 6, 9])], "packed", True)
    # row: shared [5 6] | chosen tail [7 8] | rejected tail [9]
    assert batch.input_ids.tolist() == [[5, 6, 7, 8, 9]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 2]]
    assert batch.pool_chosen.tolist() == [3] and batch.pool_rejected.tolist() == [4]
    # label_start 2: positions 1 and 2 predict chosen tokens 7 and 8
    assert batch.lm_index.tolist() == [1, 2] and batch.lm_targets.tolist() == [7, 8]
    mask = batch.attention_mask[0, 0]
    assert mask[4].tolist() == [True, True, False, False, True]  # rejected tail: prefix and itself only
    assert mask[3].tolist() == [True, True, True, True, False]


def test_shared_prefix_leaves_each_side_a_token():
    assert shared_prefix_length(np.array([1, 2, 3]), np.array([1, 2, 3, 4])) == 2
    assert shared_prefix_length(np.array([1, 2]), np.array([3, 2])) == 0
    assert shared_prefix_length(np.array([1]), np.array([1, 2])) == 0


def test_padding_slots_never_see_real_tokens():
    seg = torch.tensor([[0, 0, -1, -1]])
    branch = torch.zeros_like(seg)
    mask = dense_mask(seg, branch)[0, 0]
    assert mask[2].tolist() == [False, False, True, False]
    assert mask[3].tolist() == [False, False, True, True]
