"""A model from nothing (`model: scratch`), for offline demos and tests of the recipe.

A byte-level BPE tokenizer is trained on the first stage's texts (prompts, both responses and
the criteria prompts), given a ChatML-style chat template, and a small Qwen3- or Llama-shaped
causal LM with random weights is built on it (from the run's seed, in every process). The
tokenizer is saved like any hub one and the model goes into every checkpoint like any other
backbone, so every later step (checkpoints, export, the `hf:` scorer) treats them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from themis_rm.training.config import ScratchConfig

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PAD, START, END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: Path):
    """Train, template and save a fast byte-level BPE tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, START, END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=END, pad_token=PAD,
                                        additional_special_tokens=[START])
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(out_dir))
    return tokenizer


def build_config(shape: ScratchConfig, tokenizer):
    from transformers import LlamaConfig, Qwen3Config

    common = dict(
        vocab_size=len(tokenizer), hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size or 3 * shape.hidden_size, num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads, max_position_embeddings=32768,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    if shape.arch == "qwen3":
        return Qwen3Config(head_dim=shape.hidden_size // shape.heads, **common)
    return LlamaConfig(**common)

