"""A separable synthetic preference task: the chosen code adds, the rejected code subtracts.

Prompts, names and aspects vary, so the only reliable signal is the operator; a model that
learns it reaches full training accuracy.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

ASPECTS = ["Functional_Correctness", "Runtime_Efficiency", "Memory_Efficiency",
           "Readability_Maintainability", "Security_Hardness"]
NAMES = ["total", "value", "count", "size", "left", "right", "item", "score", "index", "limit"]


def rows(n: int, seed: int = 0, general: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.sample(NAMES, 2)
        prompt = f"Write a function number {i} that adds {a} and {b}."
        body = f"def f({a}, {b}):\n    return {a} {{op}} {b}\n"
        if rng.random() < 0.3:
            body = f"# helper {i}\n" + body
        row = {
            "id": f"syn-{i}", "prompt": prompt,
            "chosen": "```python\n" + body.format(op="+") + "```",
            "rejected": "```python\n" + body.format(op="-") + "```",
            "aspect": ASPECTS[i % len(ASPECTS)], "language": "Python",
        }
        if i < general:
            row["aspect"] = "Helpfulness" if i % 2 else "Harmlessness"
            row["system"] = "You are a careful assistant."
        out.append(row)
    return out


def write(path: Path, n: int, seed: int = 0, general: int = 0) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(n, seed, general)), encoding="utf-8")
    return path
