"""The objective by hand: BT, the LM term and both magnitude forms on a 2-pair batch."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from themis_rm.training.loss import micro_objective, preference_loss  # noqa: E402


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_two_pair_batch_by_hand():
    r_c = torch.tensor([1.0, -0.5])
    r_r = torch.tensor([0.0, 0.5])
    lm_sum, lm_tokens = torch.tensor(6.0), 4  # 4 chosen-reply tokens, summed CE 6.0
    loss, parts = preference_loss(r_c, r_r, lm_sum, lm_tokens, lm_coef=0.5, magnitude_coef=0.1, magnitude="sum")
    # BT: -log σ(1) and -log σ(-1) = softplus(-1), softplus(1)
    bt = (_softplus(-1.0) + _softplus(1.0)) / 2
    lm = 6.0 / 4
    magnitude = ((1.0 + 0.0) ** 2 + (-0.5 + 0.5) ** 2) / 2  # (r_c + r_r)²: 1 and 0
    assert parts["bt"] == pytest.approx(bt)
    assert parts["lm"] == pytest.approx(lm)
    assert parts["magnitude"] == pytest.approx(magnitude)
    assert float(loss) == pytest.approx(bt + 0.5 * lm + 0.1 * magnitude)
    assert parts["loss"] == pytest.approx(float(loss))
    assert parts["accuracy"] == pytest.approx(0.5)
    assert parts["margin"] == pytest.approx((1.0 - 1.0) / 2)


def test_abs_magnitude_shrinks_rather_than_centres():
    r_c = torch.tensor([1.0, -0.5])
    r_r = torch.tensor([0.0, 0.5])
    _, parts = preference_loss(r_c, r_r, magnitude_coef=1.0, magnitude="abs")
    assert parts["magnitude"] == pytest.approx(((1.0 + 0.0) ** 2 + (0.5 + 0.5) ** 2) / 2)
    with pytest.raises(ValueError, match="magnitude"):
        preference_loss(r_c, r_r, magnitude="square")


def test_a_tie_counts_as_wrong():
    _, parts = preference_loss(torch.zeros(3), torch.zeros(3))
    assert parts["accuracy"] == 0.0
    assert parts["bt"] == pytest.approx(math.log(2))


def test_micro_batches_add_up_to_the_whole_step():
    """Sums over micro-batches, each divided by the step's counts, equal the loss of the whole batch."""
    torch.manual_seed(0)
    r_c, r_r = torch.randn(6, requires_grad=True), torch.randn(6, requires_grad=True)
    lm = torch.rand(6, requires_grad=True)
    tokens = [3, 5, 2, 7, 1, 4]
    coefs = dict(lm_coef=0.3, magnitude_coef=0.2, magnitude="sum")
    whole, _ = micro_objective(r_c, r_r, lm.sum(), sum(tokens), step_pairs=6, step_lm_tokens=sum(tokens), **coefs)
    parts = 0.0
    for lo, hi in ((0, 2), (2, 3), (3, 6)):
        part, _ = micro_objective(r_c[lo:hi], r_r[lo:hi], lm[lo:hi].sum(), sum(tokens[lo:hi]),
                                  step_pairs=6, step_lm_tokens=sum(tokens), **coefs)
        parts = parts + part
    assert float(parts.detach()) == pytest.approx(float(whole.detach()))
    g_whole = torch.autograd.grad(whole, (r_c, r_r, lm))
    g_parts = torch.autograd.grad(parts, (r_c, r_r, lm))
    for a, b in zip(g_whole, g_parts):
        assert torch.allclose(a, b, atol=1e-6)
