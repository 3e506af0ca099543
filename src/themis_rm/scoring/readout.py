"""The last decoder layer, run only at the slots a head reads.

A reward model reads one final hidden state per sequence (two with a gate). Every layer but the
last must run for every token, because the last layer's keys and values come from all of them;
in the last layer itself, though, only the keys and values are needed for every token, while
the query, the attention, the output projection and the MLP are needed only at the read slots.
For a shallow model that is a large share of the work: a quarter of a four-layer model, less
its key and value projections.

It needs to know how the layer computes, so it is one small function per family of decoder
layers, in one registry keyed by the layer's class name (`register_last_layer`); a layer that
is not registered, or that attends through a sliding window, runs in full. The scorer also
checks at load time that the result equals the full layer's, and runs the full layer if not.

| family | decoder layers |
|---|---|
| Llama | `LlamaDecoderLayer`, `MistralDecoderLayer`, `Qwen2DecoderLayer`, `Qwen3DecoderLayer` (with query/key norms) |

Import this module only once torch is known to be installed (the scorer does so lazily).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class Queries:
    """Slots of the `rows × width` grid whose final hidden state is wanted, and for each the key
    slots it attends to: `[a0, a1) ∪ [b0, b1)` in key coordinates (cached keys first)."""

    slots: torch.Tensor  # (Q,) int64
    spans: torch.Tensor  # (Q, 4) int64


#: (layer, hidden states, (cos, sin), queries, cache or None) → the layer's output at the query
#: slots, as a (1, Q, hidden) tensor: the backbone's final norm then runs on those rows only
LastLayer = Callable[[nn.Module, torch.Tensor, Any, Queries, Any], torch.Tensor]
_FAMILIES: dict[str, LastLayer] = {}


def register_last_layer(*layer_classes: str) -> Callable[[LastLayer], LastLayer]:
    """Decorator: `function` computes decoder layers of these class names at the query slots only."""

    def decorate(function: LastLayer) -> LastLayer:
        for name in layer_classes:
            _FAMILIES[name] = function
        return function

    return decorate


def key_mask(spans: torch.Tensor, keys: int) -> torch.Tensor:
    """(Q, keys) booleans: which key slots each query attends to."""
    column = torch.arange(keys, device=spans.device)
    first = (column >= spans[:, 0:1]) & (column < spans[:, 1:2])
    second = (column >= spans[:, 2:3]) & (column < spans[:, 3:4])
    return first | second


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding as the Llama family applies it (halves, not interleaved)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


@register_last_layer("LlamaDecoderLayer", "MistralDecoderLayer", "Qwen2DecoderLayer", "Qwen3DecoderLayer")
def llama_family(layer: nn.Module, hidden: torch.Tensor, position_embeddings: Any, queries: Queries,
                 cache: Any) -> torch.Tensor:
    """Pre-norm attention (optional per-head query/key norms, grouped key/value heads) and MLP,
    each added to the residual stream."""
    attention = layer.self_attn
    rows, width, size = hidden.shape
    head = attention.head_dim
    normed = layer.input_layernorm(hidden)
    cos, sin = position_embeddings  # (rows or 1, width, head)
    keys = attention.k_proj(normed).view(rows, width, -1, head)
    if getattr(attention, "k_norm", None) is not None:
        keys = attention.k_norm(keys)
    keys = _rotate(keys.transpose(1, 2), cos[:, None], sin[:, None])
    values = attention.v_proj(normed).view(rows, width, -1, head).transpose(1, 2)
    if cache is not None:  # the next pass may continue these rows
        keys, values = cache.update(keys, values, attention.layer_idx)
    count = len(queries.slots)
    if count == 0:
        return hidden[:1, :0]
    flat = normed.reshape(-1, size).index_select(0, queries.slots)
    query = attention.q_proj(flat).view(count, -1, head)
    if getattr(attention, "q_norm", None) is not None:
        query = attention.q_norm(query)
    angles = [t.expand(rows, width, head).reshape(-1, head).index_select(0, queries.slots)[:, None] for t in (cos, sin)]
    query = _rotate(query, *angles)[:, :, None]  # (Q, heads, 1, head)
    row = torch.div(queries.slots, width, rounding_mode="floor")
    groups = query.shape[1] // keys.shape[1]
    keys = keys.index_select(0, row).repeat_interleave(groups, dim=1)
    values = values.index_select(0, row).repeat_interleave(groups, dim=1)
    mask = key_mask(queries.spans, keys.shape[2])[:, None, None]
    attended = nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=mask,
                                                          scale=attention.scaling)
    residual = hidden.reshape(-1, size).index_select(0, queries.slots)
    state = residual + attention.o_proj(attended.reshape(count, -1))
    state = state + layer.mlp(layer.post_attention_layernorm(state))
    return state[None]


class ReadoutLayer(nn.Module):
    """Stands in for the last decoder layer: the full layer, or inside `reading(...)` the
    registered function, whose output has one row per query slot, in order."""

    def __init__(self, layer: nn.Module, family: LastLayer) -> None:
        super().__init__()
        self.layer = layer
        self.family = family
        self.queries: Queries | None = None
        attention = layer.self_attn
        kept = {id(p) for module in (attention.k_proj, attention.v_proj) for p in module.parameters()}
        #: matrix weights the layer does not apply at a slot that is not read (all but keys and values)
        self.skipped_parameters = sum(p.numel() for p in layer.parameters() if id(p) not in kept and p.ndim == 2)

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.queries is None:
            return self.layer(hidden_states, *args, **kwargs)
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        return self.family(self.layer, hidden_states, kwargs["position_embeddings"], self.queries, cache)

    @contextlib.contextmanager
    def reading(self, queries: Queries | None) -> Iterator[None]:
        self.queries = queries
        try:
            yield
        finally:
            self.queries = None


def install(backbone: nn.Module) -> ReadoutLayer | None:
    """Put a `ReadoutLayer` in place of the backbone's last decoder layer, when its family is
    registered and it attends to the whole sequence; returns it, or None (the layer stays)."""
    layers = getattr(backbone, "layers", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        return None
    last = layers[-1]
    if isinstance(last, ReadoutLayer):
        return last
    family = _FAMILIES.get(type(last).__name__)
    attention = getattr(last, "self_attn", None)
    if family is None or attention is None or getattr(attention, "sliding_window", None):
        return None
    layers[-1] = ReadoutLayer(last, family)
    return layers[-1]


def uninstall(backbone: nn.Module) -> None:
    """Give the backbone its own last layer back."""
    layers = backbone.layers
    if isinstance(layers[-1], ReadoutLayer):
        layers[-1] = layers[-1].layer


__all__ = ["LastLayer", "Queries", "ReadoutLayer", "install", "key_mask", "register_last_layer", "uninstall"]
