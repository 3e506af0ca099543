"""The chunked linear cross-entropy equals the plain one, in value and in both gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from themis_rm.training import linear_ce  # noqa: E402
from themis_rm.training.linear_ce import linear_cross_entropy  # noqa: E402


@pytest.mark.parametrize("rows", [1, 7, 64])
def test_chunked_equals_plain(rows):
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    plain = linear_cross_entropy(hidden, weight, targets, "plain")
    chunked = linear_cross_entropy(hidden, weight, targets, "chunked", chunk_rows=rows)
    assert torch.allclose(plain, chunked, atol=1e-4)
    gp = torch.autograd.grad(plain * 0.7, (hidden, weight))
    gc = torch.autograd.grad(chunked * 0.7, (hidden, weight))
    for a, b in zip(gp, gc):
        assert torch.allclose(a, b, atol=1e-5)


def test_chunked_never_builds_the_full_logits(monkeypatch):
    """Every matmul the chunked path runs is at most one chunk of rows."""
    seen = []
    real = torch.Tensor.__matmul__

    def spy(a, b):
        out = real(a, b)
        seen.append(tuple(out.shape))
        return out

    monkeypatch.setattr(torch.Tensor, "__matmul__", spy)
    hidden = torch.randn(40, 8, requires_grad=True)
    weight = torch.randn(30, 8, requires_grad=True)
    linear_cross_entropy(hidden, weight, torch.randint(0, 30, (40,)), "chunked", chunk_rows=16).backward()
    logits_shapes = [s for s in seen if s[-1] == 30]
    assert logits_shapes and max(s[0] for s in logits_shapes) <= 16


def test_chunk_size_follows_the_vocabulary():
    assert linear_ce._chunk_rows(151_936, None) < 1024
    assert linear_ce._chunk_rows(400, None) > 100_000


def test_liger_without_the_package_says_which_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_liger(name, *args, **kwargs):
        if name.startswith("liger_kernel"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_liger)
    with pytest.raises(RuntimeError, match=r"themis-rm\[gpu\]"):
        linear_cross_entropy(torch.randn(2, 4), torch.randn(5, 4), torch.tensor([0, 1]), "liger")
    assert not linear_ce.liger_available()
