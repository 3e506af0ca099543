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


def build_tokenizer(path: str | Path, vocab_size: int = 400):
    """Train, template and save a tokenizer; returns the loaded `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(path))
    return tokenizer


def _config(arch: str, vocab_size: int, pad_token_id: int, hidden: int, layers: int, **extra):
    from transformers import LlamaConfig, Qwen3Config

    common = dict(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, pad_token_id=pad_token_id,
        tie_word_embeddings=False, **extra,
    )
    if arch == "qwen3":
        return Qwen3Config(head_dim=hidden // 4, **common)
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
) -> Path:
    """Save a tokenizer plus a random tiny model (`seq-cls` with num_labels=1, or `causal-lm`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    path = Path(path)
    tokenizer = build_tokenizer(path)
    torch.manual_seed(seed)
    if kind == "seq-cls":
        config = _config(arch, len(tokenizer), tokenizer.pad_token_id, hidden, layers, num_labels=1)
        model = AutoModelForSequenceClassification.from_config(config)
    elif kind == "causal-lm":
        config = _config(arch, len(tokenizer), tokenizer.pad_token_id, hidden, layers)
        model = AutoModelForCausalLM.from_config(config)
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}")
    model.save_pretrained(str(path))
    return path
