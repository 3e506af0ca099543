"""The physics of a run: model FLOPs, MFU, tokens per second, peak memory.

FLOPs count the model's useful work on real tokens (padding and gradient-checkpoint
recomputation earn nothing): per token 2 × (matmul parameters) forward, per attended
(query, key) pair 4 × (attention width) per layer, plus the LM head on the tokens of the LM
term; backward is twice the forward. MFU = achieved FLOP/s ÷ the device's peak dense bf16 FLOP/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from themis_rm.scoring.loading import peak_memory

#: peak dense bf16 TFLOP/s per device, from the vendors' data sheets (no sparsity)
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
               "A10G": 70.0, "A10": 125.0, "B200": 2250.0, "MI300X": 1307.0}


@dataclass(frozen=True)
class ModelShape:
    matmul_params: int
    layers: int
    attn_width: int
    hidden: int
    vocab: int

    @classmethod
    def of(cls, lm: torch.nn.Module) -> ModelShape:
        config = lm.config.get_text_config()
        embedding = lm.get_input_embeddings().weight
        base = lm.base_model
        matmul = sum(p.numel() for p in base.parameters() if p.dim() >= 2) - embedding.numel()
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(matmul, config.num_hidden_layers, heads * head_dim, config.hidden_size, config.vocab_size)

    def flops(self, real_tokens: int, attended: int, lm_tokens: int) -> float:
        forward = (2.0 * self.matmul_params * real_tokens + 4.0 * self.layers * self.attn_width * attended
                   + 2.0 * self.hidden * self.vocab * lm_tokens)
        return 3.0 * forward


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """Peak FLOP/s of one device, or None where unknown (CPUs: MFU is not reported)."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).upper()
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_TFLOPS[key] * 1e12
    return None


def peak_memory_gib(device: torch.device) -> float:
    """Peak GPU memory allocated by torch, or the process's peak resident set on CPU."""
    return peak_memory(str(device))[0] / 2**30
