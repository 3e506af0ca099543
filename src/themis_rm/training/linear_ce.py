"""Cross-entropy of `hidden @ weight.T` without building the full logits.

The LM term needs log-probabilities over the whole vocabulary for every chosen-reply token:
at 150k vocabulary and 16k tokens that is 2.4 G floats, more than the model. Three ways:

- `plain`: the full logits, then `F.cross_entropy` (the reference; fine for tiny vocabularies).
- `chunked`: pure torch. Rows are processed in chunks; each chunk's logits live only long
  enough to produce the loss *and* its gradients with respect to `hidden` and `weight`, which are
  kept for backward. Peak extra memory is one chunk of logits.
- `liger`: Liger-Kernel's fused Triton kernel (GPU, the `gpu` extra), same idea in one kernel.

All return the *sum* of the per-token losses; the caller divides by the step's token count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: logits elements per chunk (64 Mi floats = 256 MiB in fp32)
CHUNK_ELEMENTS = 1 << 26


def _chunk_rows(vocab: int, rows: int | None) -> int:
    return rows if rows is not None else max(16, CHUNK_ELEMENTS // max(vocab, 1))


class _ChunkedLinearCE(torch.autograd.Function):
    """Loss and both gradients in one pass over the chunks; backward only scales what forward kept.

    The gradients are kept on `ctx` and scaled in place, so backward allocates nothing (and the
    graph cannot be run backward twice).
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, rows):
        want_h, want_w = hidden.requires_grad, weight.requires_grad
        w = weight.to(hidden.dtype)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if want_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_w else None
        for start in range(0, hidden.shape[0], rows):
            h = hidden[start:start + rows]
            t = targets[start:start + rows]
            logits = (h @ w.T).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if want_h or want_w:
                probs = logits.sub_(lse[:, None]).exp_()  # in place: d(sum CE)/d logits = softmax - one_hot
                probs[torch.arange(len(t), device=t.device), t] -= 1.0
                probs = probs.to(h.dtype)
                if want_h:
                    grad_h[start:start + rows] = probs @ w
                if want_w:
                    grad_w.addmm_(probs.T.float(), h.float())
            del logits
        ctx.grads = (grad_h, grad_w)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.grads
        ctx.grads = None
        if grad_h is not None:
            grad_h.mul_(grad_out.to(grad_h.dtype))
        if grad_w is not None:
            grad_w = grad_w.mul_(grad_out.float()).to(ctx.weight_dtype)
        return grad_h, grad_w, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    impl: str = "chunked",
    chunk_rows: int | None = None,
) -> torch.Tensor:
    """Sum over rows of CE(hidden[i] @ weight.T, targets[i]); `hidden` [N, H], `weight` [V, H]."""
    if hidden.shape[0] == 0:
        return hidden.new_zeros((), dtype=torch.float32) + 0.0 * weight.sum()
    if impl == "plain":
        logits = (hidden @ weight.to(hidden.dtype).T).float()
        return F.cross_entropy(logits, targets, reduction="sum")
    if impl == "chunked":
        return _ChunkedLinearCE.apply(hidden, weight, targets, _chunk_rows(weight.shape[0], chunk_rows))
    if impl == "liger":
        return _liger(hidden, weight, targets)
    raise ValueError(f"unknown LM loss implementation {impl!r}; expected plain, chunked or liger")


def _liger(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss
    except ImportError as err:
        raise RuntimeError("lm_loss_impl 'liger' needs liger-kernel: pip install 'themis-rm[gpu]'") from err
    loss = LigerFusedLinearCrossEntropyLoss(reduction="sum")(weight.to(hidden.dtype), hidden, targets)
    return (loss[0] if isinstance(loss, tuple) else loss).float()


def liger_available() -> bool:
    try:
        import liger_kernel.transformers.fused_linear_cross_entropy  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()
