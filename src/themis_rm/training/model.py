"""The reward model being trained: any HF causal-LM backbone plus a scalar reward head.

The reward head is a bias-free `Linear(hidden, 1)` initialised to zero (every pair starts at
margin 0, loss log 2), read at the last real token of each sequence. The LM head stays only to
compute the LM regulariser on the chosen reply; the export drops it and keeps the reward head as
the `score` layer of a standard `...ForSequenceClassification`.

`RewardModel.forward` does the whole pass (backbone, pooling, reward, LM term) so that FSDP's
hooks gather every parameter it touches, the heads included.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from themis_rm.scoring.forward import additive_mask
from themis_rm.training.attention import NAME as SEGMENTS
from themis_rm.training.attention import register as register_attention
from themis_rm.training.linear_ce import linear_cross_entropy
from themis_rm.training.packing import Batch, allowed


class RewardModel(nn.Module):
    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        hidden = lm.config.get_text_config().hidden_size
        self.reward_head = nn.Linear(hidden, 1, bias=False)
        nn.init.zeros_(self.reward_head.weight)
        # lets accelerate's FSDP auto-wrap find the decoder layers through this wrapper
        self._no_split_modules = getattr(lm, "_no_split_modules", None)
        output = lm.get_output_embeddings()
        if output is None or getattr(output, "bias", None) is not None:
            raise ValueError("the backbone needs a bias-free output embedding (LM head) for the LM term")

    @property
    def config(self):
        return self.lm.config

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: Any,
        pool_index: torch.Tensor,
        lm_index: torch.Tensor | None = None,
        lm_targets: torch.Tensor | None = None,
        lm_impl: str = "chunked",
        units: list | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rewards at `pool_index` (flat row × column positions) and the summed LM loss, if asked.

        `units` (the packed pair spans) travel down to the attention function as `themis_units`.
        """
        extra = {"themis_units": units} if units is not None else {}
        out = self.lm.base_model(
            input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask, use_cache=False, **extra,
        )
        hidden = out.last_hidden_state
        flat = hidden.reshape(-1, hidden.shape[-1])
        rewards = self.reward_head(flat[pool_index]).squeeze(-1)
        lm_sum = None
        if lm_index is not None:
            weight = self.lm.get_output_embeddings().weight
            lm_sum = linear_cross_entropy(flat[lm_index], weight, lm_targets, lm_impl)
        return rewards, lm_sum


def attention_input(batch: Batch, impl: str, dtype: torch.dtype) -> Any:
    """What the backbone's `attention_mask` argument gets for this batch and attention kernel."""
    mask = batch.attention_mask
    if mask is None or mask.dim() == 2:
        return mask
    if impl == "eager":  # eager adds the mask to the scores
        return additive_mask(mask, dtype)
    return mask


def flex_block_mask(batch: Batch):
    """The packed attention rule as a flex-attention block mask (blocks with no allowed pair are skipped)."""
    from torch.nn.attention.flex_attention import create_block_mask

    seg, branch = batch.segments, batch.branches

    def mask_mod(b, h, q_idx, kv_idx):
        return allowed(seg[b, q_idx], seg[b, kv_idx], branch[b, q_idx], branch[b, kv_idx], q_idx, kv_idx)

    rows, width = seg.shape
    return create_block_mask(mask_mod, B=rows, H=None, Q_LEN=width, KV_LEN=width, device=seg.device)


def forward_batch(model: nn.Module, batch: Batch, impl: str, dtype: torch.dtype, lm: bool, lm_impl: str):
    """(chosen rewards, rejected rewards, LM sum or None) for one collated micro-batch."""
    attention = flex_block_mask(batch) if impl == "flex_attention" else attention_input(batch, impl, dtype)
    pool = torch.cat([batch.pool_chosen, batch.pool_rejected])
    rewards, lm_sum = model(
        batch.input_ids, batch.position_ids, attention, pool,
        batch.lm_index if lm else None, batch.lm_targets if lm else None, lm_impl,
        batch.units if impl == SEGMENTS else None,
    )
    n = batch.n_pairs
    return rewards[:n], rewards[n:], lm_sum


def load_backbone(name: str, attn_implementation: str, trust_remote_code: bool = False) -> nn.Module:
    """A causal LM from a hub id or a path, in fp32 (mixed precision comes from autocast / FSDP)."""
    from transformers import AutoModelForCausalLM

    register_attention()
    return AutoModelForCausalLM.from_pretrained(
        name, dtype=torch.float32, attn_implementation=attn_implementation, trust_remote_code=trust_remote_code,
    )


def backbone_from_config(config, attn_implementation: str, trust_remote_code: bool = False) -> nn.Module:
    from transformers import AutoModelForCausalLM

    register_attention()
    config._attn_implementation = attn_implementation
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32, trust_remote_code=trust_remote_code)


def load_tokenizer(name: str, chat_template: str | None = None, trust_remote_code: bool = False):
    """The tokenizer, with the config's chat template when one is given."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    return with_chat_template(tokenizer, chat_template)


def with_chat_template(tokenizer, chat_template: str | None):
    """Set a chat template given as a file path or as the template text (a `{` marks text)."""
    if chat_template:
        from pathlib import Path

        path = Path(chat_template)
        is_file = "{" not in chat_template and path.is_file()
        tokenizer.chat_template = path.read_text(encoding="utf-8") if is_file else chat_template
    return tokenizer
