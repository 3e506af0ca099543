"""A tiny random causal LM behind the loopback OpenAI server: real generation, real log-probs.

`build_judge_lm(path)` saves a byte-level BPE tokenizer (with `Yes`/`No` as whole tokens, so a
yes/no judge has something to read) and a random tiny Qwen3 causal LM. `TinyLMHandler(path)`
answers chat-completions bodies the way vLLM does: the chat template, `max_tokens`, greedy
decoding at temperature 0 or seeded sampling above it, `finish_reason` `stop`/`length`, and
`logprobs.content` with the top alternatives of each generated token, from the raw logits.

    with OpenAIServer(TinyLMHandler(build_judge_lm(tmp_path))) as server: ...
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.llm.openai_server import Reply, completion
from tests.tiny_models import build_tokenizer

ANSWER_WORDS = ["Yes", "No", "yes", "no"]


def build_judge_lm(path: str | Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    path = Path(path)
    tokenizer = build_tokenizer(path)
    tokenizer.add_tokens(ANSWER_WORDS)
    tokenizer.save_pretrained(str(path))
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4, max_position_embeddings=8192,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(path))
    return path


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]):
    """The token ids the server feeds the model for a chat (shared so a test can reproduce them)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]


class TinyLMHandler:
    """An `OpenAIServer` handler; one generation at a time (the model is not thread-safe)."""

    def __init__(self, path: str | Path, max_context: int = 8192) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
        self.max_context = max_context
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        import torch

        ids = prompt_ids(self.tokenizer, body["messages"])
        max_tokens = int(body.get("max_tokens") or 16)
        if ids.shape[1] + max_tokens > self.max_context:
            message = f"This model's maximum context length is {self.max_context} tokens; you asked for {ids.shape[1] + max_tokens}."
            return Reply(400, {"error": {"message": message}})
        temperature = float(body.get("temperature", 1.0))
        sampling = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        with self._lock, torch.no_grad():
            if "seed" in body:
                torch.manual_seed(int(body["seed"]))
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, output_logits=True,
                return_dict_in_generate=True, pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id, **sampling,
            )
        new = out.sequences[0, ids.shape[1]:].tolist()
        finish = "stop" if new and new[-1] == self.tokenizer.eos_token_id else "length"
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        logprobs = None
        if body.get("logprobs"):
            logprobs = self._logprobs(new, out.logits, int(body.get("top_logprobs") or 0))
        return Reply(body=completion(text, finish, logprobs, prompt_tokens=ids.shape[1], completion_tokens=len(new)))

    def _logprobs(self, new: list[int], logits: tuple, top: int) -> list[dict[str, Any]]:
        import torch

        content = []
        for token_id, step in zip(new, logits):
            logp = torch.log_softmax(step[0].float(), dim=-1)
            values, indices = torch.topk(logp, min(top, logp.shape[-1])) if top else (logp[:0], logp[:0].long())
            token = self.tokenizer.decode([token_id])
            content.append({
                "token": token,
                "logprob": float(logp[token_id]),
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": self.tokenizer.decode([int(i)]), "logprob": float(v)}
                    for v, i in zip(values.tolist(), indices.tolist())
                ],
            })
        return content
