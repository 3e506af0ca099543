"""Tiny models built from configs inside the tests: the same loading path as a real hub model.

A byte-level BPE tokenizer is trained on a little code with `tokenizers`, given a ChatML-style
chat template and saved with `save_pretrained`; tiny Qwen3- or Llama-shaped models with random
weights are saved next to it. Nothing here touches the network.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def mean(values):\n    if not values:\n        raise ValueError('empty')\n    return sum(values) / len(values)\n",
    "for i in range(10):\n    print(i * i)\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, item):\n        self.items.append(item)\n",
    "int main(void) {\n    char buf[16];\n    fgets(buf, sizeof buf, stdin);\n    return 0;\n}\n",
    "#include <vector>\nint sum(const std::vector<int>& v) { int s = 0; for (int x : v) s += x; return s; }\n",
    "public class Main { public static void main(String[] args) { System.out.println(\"hi\"); } }\n",
    "function greet(name) { return `Hello, ${name}!`; }\nmodule.exports = { greet };\n",
    "func Max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}\n",
    "def fib(n)\n  n < 2 ? n : fib(n - 1) + fib(n - 2)\nend\n",
    "using System; class P { static void Main() { Console.WriteLine(\"x\"); } }\n",
    "Write a function that returns the sum of a list. Make it fast and readable and secure.\n",
    "You are judging a response. Criteria: correctness, efficiency, memory, readability, security.\n",
    "SELECT * FROM users WHERE id = ?; query = 'SELECT * FROM t WHERE name = ' + name\n",
    "```python\nimport os\nos.system(cmd)\n```\n```cpp\nstrcpy(dst, src);\n```\n",
]


def build_tokenizer(
    path: str | Path,
    vocab_size: int = 400,
    corpus: list[str] | None = None,
    extra_special_tokens: list[str] | None = None,
    chat_template: str | None = CHAT_TEMPLATE,
):
    """Train, template and save a tokenizer; returns the loaded `PreTrainedTokenizerFast`.

    `corpus` replaces the built-in snippets (a benchmark can train a larger vocabulary);
    `extra_special_tokens` adds marker tokens (e.g. for a head read at a special token);
    `chat_template=None` saves a tokenizer without a template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + list(extra_special_tokens or []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(corpus if corpus is not None else CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>", *(extra_special_tokens or [])],
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(str(path))
    return tokenizer


def _config(arch: str, vocab_size: int, pad_token_id: int, hidden: int, layers: int, heads: int = 4,
            kv_heads: int = 2, intermediate: int | None = None, max_positions: int = 4096, **extra):
    from transformers import LlamaConfig, Qwen3Config

    common = dict(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate or hidden * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, pad_token_id=pad_token_id, tie_word_embeddings=False, **extra,
    )
    if arch == "qwen3":
        return Qwen3Config(head_dim=common.pop("head_dim", hidden // heads), **common)
    if arch == "llama":
        return LlamaConfig(**common)
    raise ValueError(f"unknown tiny architecture {arch!r}")


def build_model(
    path: str | Path,
    kind: str = "seq-cls",
    arch: str = "qwen3",
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
    num_labels: int = 1,
    tokenizer_kwargs: dict | None = None,
    save_dtype: str | None = None,
    **config_kwargs,
) -> Path:
    """Save a tokenizer plus a random tiny model (`seq-cls`, by default with num_labels=1, or `causal-lm`).

    `tokenizer_kwargs` go to `build_tokenizer`; `config_kwargs` (heads, kv_heads, head_dim,
    intermediate, max_positions, vocab_size) shape the model, e.g. a Qwen3-0.6B-shaped one for a GPU
    benchmark; `save_dtype` ("bfloat16") halves what a large one takes on disk.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    path = Path(path)
    tokenizer = build_tokenizer(path, **(tokenizer_kwargs or {}))
    vocab = max(config_kwargs.pop("vocab_size", 0), len(tokenizer))
    torch.manual_seed(seed)
    if kind == "seq-cls":
        config = _config(arch, vocab, tokenizer.pad_token_id, hidden, layers, num_labels=num_labels,
                         **config_kwargs)
        model = AutoModelForSequenceClassification.from_config(config)
    elif kind == "causal-lm":
        config = _config(arch, vocab, tokenizer.pad_token_id, hidden, layers, **config_kwargs)
        model = AutoModelForCausalLM.from_config(config)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}")
    if save_dtype:
        model = model.to(getattr(torch, save_dtype))
    model.save_pretrained(str(path))
    return path


# -- head-adapter checkpoints: a transformers backbone plus head tensors in the same files ------------


def _add_tensors(path: Path, tensors: dict, config_updates: dict | None = None) -> None:
    """Write extra tensors into the saved safetensors file and extra keys into config.json."""
    import json

    from safetensors.torch import load_file, save_file

    weights = path / "model.safetensors"
    state = load_file(str(weights))
    state.update({name: tensor.contiguous() for name, tensor in tensors.items()})
    save_file(state, str(weights), metadata={"format": "pt"})
    if config_updates:
        config_path = path / "config.json"
        config = json.loads(config_path.read_text())
        config.update(config_updates)
        config_path.write_text(json.dumps(config, indent=2))


def build_value_head_model(path: str | Path, hidden_layers: tuple[int, ...] = (), prefix: str = "v_head",
                           arch: str = "qwen3", seed: int = 1, bias: bool = True) -> Path:
    """A causal LM plus a value head: one linear layer `{prefix}.summary` (TRL / AceCodeRM style), or
    with `hidden_layers` a ReLU MLP `{prefix}.0`, `{prefix}.2`, ... (GRM style)."""
    import torch

    path = build_model(path, kind="causal-lm", arch=arch, seed=seed)
    hidden = 64
    generator = torch.Generator().manual_seed(seed + 100)
    widths = [hidden, *hidden_layers, 1]
    names = ["summary"] if not hidden_layers else [str(2 * i) for i in range(len(widths) - 1)]
    tensors = {}
    for name, width_in, width_out in zip(names, widths[:-1], widths[1:]):
        tensors[f"{prefix}.{name}.weight"] = torch.randn(width_out, width_in, generator=generator) * 0.2
        if bias:
            tensors[f"{prefix}.{name}.bias"] = torch.randn(width_out, generator=generator) * 0.2
    _add_tensors(path, tensors)
    return path


def build_special_token_model(path: str | Path, token: str = "<|reward|>", arch: str = "llama", seed: int = 2) -> Path:
    """A backbone plus `v_head.weight` (no bias), read at a marker token (Athene style)."""
    import torch

    path = Path(path)
    build_model(path, kind="causal-lm", arch=arch, seed=seed, tokenizer_kwargs={"extra_special_tokens": [token]})
    generator = torch.Generator().manual_seed(seed + 100)
    _add_tensors(path, {"v_head.weight": torch.randn(1, 64, generator=generator) * 0.2})
    return path


def build_gating_model(path: str | Path, objectives: int = 5, gate_hidden: int = 32, gate_layers: int = 2,
                       temperature: float = 10.0, seed: int = 3) -> Path:
    """Multi-objective regression plus a prompt gate (ArmoRM style), saved under an architecture
    name transformers does not know, with an `auto_map` to code that does not exist: the
    adapter must read it with transformers' own Llama backbone and never need remote code."""
    import torch

    path = Path(path)
    build_model(path, kind="causal-lm", arch="llama", seed=seed)
    generator = torch.Generator().manual_seed(seed + 100)
    tensors = {"regression_layer.weight": torch.randn(objectives, 64, generator=generator) * 0.2}
    width = 64
    for layer in range(gate_layers):
        tensors[f"gating.layers.{layer}.weight"] = torch.randn(gate_hidden, width, generator=generator) * 0.2
        tensors[f"gating.layers.{layer}.bias"] = torch.randn(gate_hidden, generator=generator) * 0.1
        width = gate_hidden
    tensors[f"gating.layers.{gate_layers}.weight"] = torch.randn(objectives, width, generator=generator) * 0.5
    tensors[f"gating.layers.{gate_layers}.bias"] = torch.randn(objectives, generator=generator) * 0.1
    tensors["gating.logit_scale"] = torch.tensor([1.5])
    tensors["reward_transform_matrix"] = torch.eye(objectives) + 0.1 * torch.randn(objectives, objectives,
                                                                                  generator=generator)
    _add_tensors(path, tensors, {
        "architectures": ["LlamaForRewardModelWithGating"],
        "auto_map": {"AutoModelForSequenceClassification": "modeling_custom.LlamaForRewardModelWithGating"},
        "num_objectives": objectives, "gating_temperature": temperature, "gating_hidden_dim": gate_hidden,
        "gating_n_hidden": gate_layers,
    })
    return path
