"""float32 linear layers on CPU through oneDNN's prepacked matrix multiply, where that is faster.

PyTorch runs a float32 `nn.Linear` on CPU through MKL's sgemm, which on some processors does not
use their widest vector units: on the AMD EPYC of docs/performance.md it runs at its AVX2 rate,
about 100 GFLOP/s per core, while oneDNN (which PyTorch also ships, and uses for its own CPU
inference paths) multiplies the same float32 matrices at about 240. Same arithmetic, no
reduced-precision mode: only the kernel and the order of its sums differ, so hidden states
agree to about 1e-6 (relative) or better. Where MKL already uses those units (e.g. on Intel processors) the two are
about equal; `auto` then keeps PyTorch's own layers.

| `cpu_linear` | linear layers of a float32 backbone on CPU |
|---|---|
| `auto` | oneDNN when it multiplies the model's largest linear shape at least 1.25× faster here (timed at load) |
| `onednn` | oneDNN whenever PyTorch provides it |
| `torch` | PyTorch's own |

Either way the packed model is checked against the unpacked one at load (`verify.py`) and
unpacked if it differs; once it passes, `release` frees the plain weights. The kernel is
`torch.ops.mkldnn._linear_pointwise`, the operator PyTorch's compiler uses for the same purpose;
without it the layers stay as they are.

Import this module only once torch is known to be installed (the scorer does so lazily).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

FASTER = 1.25  # what `auto` asks of oneDNN before it swaps the layers


def available() -> bool:
    operators = ("_linear_pointwise", "_reorder_linear_weight")
    return torch.backends.mkldnn.is_available() and all(hasattr(torch.ops.mkldnn, name) for name in operators)


class PackedLinear(nn.Module):
    """An `nn.Linear` whose weight is stored in oneDNN's blocked layout. It keeps the layer it
    replaces (outside its submodules) until `release`, so that the swap can be undone."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach()))
        self.bias = linear.bias
        self.original: list[nn.Linear] = [linear]  # a list, so that it is not a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


def _children(module: nn.Module, wanted: Callable[[nn.Module], bool]) -> list[tuple[nn.Module, str, Any]]:
    """(parent, attribute, layer) for every layer under `module` that `wanted` picks."""
    return [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
            if wanted(child)]


def linears(module: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """Every float32 `nn.Linear` under `module`."""
    return _children(module, lambda c: type(c) is nn.Linear and c.weight.dtype == torch.float32)


def faster(layer: nn.Linear, repeats: int = 5) -> float:
    """How many times faster oneDNN multiplies a batch of inputs by this layer than PyTorch does
    (best of `repeats`, interleaved, so that a busy neighbour hurts both alike; the batch is sized
    to about 64 M multiply-adds, so that a large layer does not slow loading)."""
    rows = max(64, min(1024, 2**26 // (layer.in_features * layer.out_features)))
    x = torch.randn(rows, layer.in_features)
    packed = PackedLinear(layer)
    best = {"torch": float("inf"), "onednn": float("inf")}
    with torch.inference_mode():
        for _ in range(repeats):
            for name, function in (("torch", layer), ("onednn", packed)):
                started = time.perf_counter()
                function(x)
                best[name] = min(best[name], time.perf_counter() - started)
    return best["torch"] / best["onednn"]


def pack(module: nn.Module, mode: str) -> int:
    """Swap the float32 linear layers under `module` for packed ones as `mode` says; returns how many."""
    found = linears(module)
    if mode == "torch" or not found or not available():
        return 0
    largest = max((layer for _, _, layer in found), key=lambda layer: layer.weight.numel())
    if mode == "auto" and faster(largest) < FASTER:
        return 0
    for parent, name, layer in found:
        setattr(parent, name, PackedLinear(layer))
    return len(found)


def _packed(module: nn.Module) -> list[tuple[nn.Module, str, PackedLinear]]:
    return _children(module, lambda c: isinstance(c, PackedLinear))


def unpack(module: nn.Module) -> None:
    """Put the original layers back."""
    for parent, name, layer in _packed(module):
        setattr(parent, name, layer.original[0])


def release(module: nn.Module) -> None:
    """Forget the original layers (their plain weights), once the packed ones are trusted."""
    for _, _, layer in _packed(module):
        layer.original.clear()


__all__ = ["PackedLinear", "available", "faster", "linears", "pack", "release", "unpack"]
