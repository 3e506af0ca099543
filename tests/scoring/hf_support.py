"""Shared pieces of the hf scorer tests: request sets, the per-sample reference, one CPU thread."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from themis_rm.schema import ScoreRequest

torch = pytest.importorskip("torch")

from tiny_models import CORPUS  # noqa: E402

#: Subprocesses run with one thread: on a shared two-core machine a second OpenMP thread that is
#: not scheduled stalls every small operation.
ONE_THREAD_ENV = dict(os.environ, OMP_NUM_THREADS="1")


#: How far `themis eval` may be from the per-sample float32 reference.
TOLERANCE = 1e-4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def requests_for_tests() -> list[ScoreRequest]:
    """Varied lengths (2 to ~40 lines), with and without system turns, string and chat prompts."""
    out = []
    for i, code in enumerate(CORPUS):
        system = "Judge the code strictly." if i % 3 == 0 else None
        prompt = "Write some code." if i % 2 else ({"role": "user", "content": "Hi"},
                                                   {"role": "assistant", "content": "Hello."},
                                                   {"role": "user", "content": "Now write code."})
        out.append(ScoreRequest(system, prompt, code * (1 + i % 4)))
    out.append(ScoreRequest(None, "Short.", "x"))
    return out


def reference_scores(model_dir: Path, requests: list[ScoreRequest]) -> list[float]:
    """The careful per-sample way: the tokenizer's template, one unpadded fp32 forward each,
    transformers' own pooling."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    scores = []
    with torch.inference_mode():
        for request in requests:
            ids = tokenizer.apply_chat_template(request.messages(), tokenize=True, return_dict=True,
                                                return_tensors="pt")["input_ids"]
            scores.append(float(model(input_ids=ids).logits[0, 0]))
    return scores


def write_pairs(path: Path, requests: list[ScoreRequest]) -> None:
    rows = []
    for i in range(0, len(requests) - 1, 2):
        rows.append({"id": f"p{i}", "prompt": "Write some code.", "chosen": requests[i].response,
                     "rejected": requests[i + 1].response, "aspect": "Functional_Correctness",
                     "language": "Python", "subset": "TINY"})
    rows.append(dict(rows[0], id="dup"))  # a duplicate pair: its two sides are scored once
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
