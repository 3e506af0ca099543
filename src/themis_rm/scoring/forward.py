"""One device batch through the backbone: the mask it needs, the cached prompts it continues,
and the final hidden states at its read (and anchor) slots.

| batch | attention mask given to the backbone |
|---|---|
| padded, right, verified causal | none: the causal fast path |
| padded with a mask, or packed | the batch's own (2-D padding mask, or none with position ids) |
| continuing cached prompts | 4-D: its prompt's real slots, then its own row causally |

A batch that continues prompts first has them run (once per prompt batch: the batches of one
group of prompts follow each other, so only the latest prompt cache is kept) and their keys
and values copied to its rows. With a `ReadoutLayer` installed, the last layer runs only at the
read slots (`readout.py`) and the backbone returns those rows only.
"""

from __future__ import annotations

import inspect
from typing import Any

from themis_rm.scoring.batching import HostBatch


class BatchRunner:
    """Runs `DeviceBatch`es through one backbone; `ran` lists the passes of the last call, for counting."""

    def __init__(self, backbone: Any, attn_implementation: str, dtype: str, readout: Any | None = None) -> None:
        import torch

        self.torch = torch
        self.backbone = backbone
        self.eager = attn_implementation == "eager"  # eager adds the mask to the scores
        self.dtype = getattr(torch, dtype)
        self.readout = readout
        parameters = inspect.signature(backbone.forward).parameters
        self.cache_argument = "cache" if "cache" in parameters else "past_key_values"
        self._prompts: tuple[HostBatch, list[tuple[Any, Any]]] | None = None
        self.ran: list[HostBatch] = []

    def hidden(self, batch: Any) -> tuple[Any, Any]:
        """float32 final hidden states at the read slots, and at the anchor slots (or None)."""
        torch = self.torch
        self.ran = []
        cache = self._continue(batch) if batch.prompts is not None else None
        slots = batch.read_index if batch.anchor_index is None else torch.cat([batch.read_index, batch.anchor_index])
        hidden = self._run(batch, self._mask(batch), cache, slots, batch.key_spans)
        self.ran.append(batch.host)
        flat = hidden.reshape(-1, hidden.shape[-1])
        if self.readout is not None:  # the last layer gave the query slots only, reads first
            reads = len(batch.read_index)
            return flat[:reads].float(), flat[reads:].float() if batch.anchor_index is not None else None
        read = flat.index_select(0, batch.read_index).float()
        anchor = flat.index_select(0, batch.anchor_index).float() if batch.anchor_index is not None else None
        return read, anchor

    def _run(self, batch: Any, mask: Any, cache: Any, slots: Any, spans: Any) -> Any:
        arguments = {"input_ids": batch.input_ids, "attention_mask": mask, "position_ids": batch.position_ids,
                     "use_cache": cache is not None, self.cache_argument: cache}
        if self.readout is None:
            output = self.backbone(**arguments)
        else:
            from themis_rm.scoring.readout import Queries

            with self.readout.reading(Queries(slots, spans)):
                output = self.backbone(**arguments)
        return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]

    def _continue(self, batch: Any) -> Any:
        """A cache holding, for each row of `batch`, the keys and values of the prompt it continues."""
        from transformers import DynamicCache

        layers = self._prompt_cache(batch.prompts)
        cache = DynamicCache()
        for number, (keys, values) in enumerate(layers):
            cache.update(keys.index_select(0, batch.prompt_rows), values.index_select(0, batch.prompt_rows), number)
        return cache

    def _prompt_cache(self, prompts: Any) -> list[tuple[Any, Any]]:
        if self._prompts is not None and self._prompts[0] is prompts.host:
            return self._prompts[1]
        from transformers import DynamicCache

        self._prompts = None  # free the previous prompts' cache before filling the next one
        cache = DynamicCache()
        nothing = self.torch.zeros(0, dtype=self.torch.int64, device=prompts.input_ids.device)
        self._run(prompts, prompts.attention_mask, cache, nothing, nothing.reshape(0, 4))
        self.ran.append(prompts.host)
        self._prompts = (prompts.host, _layer_tensors(cache))
        return self._prompts[1]

    def _mask(self, batch: Any) -> Any:
        if batch.prompts is None:
            return batch.attention_mask
        torch = self.torch
        width = batch.input_ids.shape[1]
        cached = batch.prompts.input_ids.shape[1]
        column = torch.arange(cached + width, device=batch.input_ids.device)
        query = torch.arange(width, device=column.device)
        own = (column[None, :] >= cached) & (column[None, :] - cached <= query[:, None])  # (width, keys)
        prompt = column[None, None, :] < batch.prompt_lengths[:, None, None]  # (rows, 1, keys)
        mask = (own[None] | prompt)[:, None]  # (rows, 1, width, keys)
        if self.eager:
            return additive_mask(mask, self.dtype)
        return mask


def additive_mask(mask: Any, dtype: Any) -> Any:
    """A boolean attention mask as eager attention takes it: 0 where allowed, the dtype's minimum elsewhere."""
    import torch

    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)


def _layer_tensors(cache: Any) -> list[tuple[Any, Any]]:
    """(keys, values) per layer of a filled `DynamicCache`, across transformers' cache layouts."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


__all__ = ["BatchRunner"]
