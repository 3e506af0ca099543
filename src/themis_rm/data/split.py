"""Split pairs so that no prompt lands on both sides (train vs held-out).

Many benchmark prompts carry several pairs (DebugBench: 3,902 pairs on 676 prompts); a random
row split would put the same problem in training and in evaluation. Here every pair whose
prompt (whitespace-normalised) matches goes to the same side. Prompts are visited in an order
fixed by a seeded hash, and a prompt goes to the held-out side while its subset has fewer
held-out pairs than `heldout_fraction` of its rows, so each subset is represented in both.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence

from themis_rm.schema import PreferencePair


def prompt_key(pair: PreferencePair) -> str:
    """The prompt, whitespace-normalised (chat prompts by their role/content turns)."""
    if isinstance(pair.prompt, str):
        text = pair.prompt
    else:
        text = json.dumps([[m["role"], m["content"]] for m in pair.prompt], ensure_ascii=False)
    return " ".join(text.split())


def split_by_prompt(
    pairs: Sequence[PreferencePair], heldout_fraction: float, seed: int = 0,
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out), disjoint in prompts, each in the input order; deterministic for a seed."""
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        groups[prompt_key(pair)].append(index)
    sizes = Counter(pair.subset for pair in pairs)
    taken: Counter = Counter()
    heldout: set[int] = set()

    def order(key: str) -> str:
        return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()

    for key in sorted(groups, key=order):
        members = groups[key]
        subset = Counter(pairs[i].subset for i in members).most_common(1)[0][0]
        if taken[subset] < heldout_fraction * sizes[subset]:
            heldout.update(members)
            for i in members:
                taken[pairs[i].subset] += 1
    train = [p for i, p in enumerate(pairs) if i not in heldout]
    held = [p for i, p in enumerate(pairs) if i in heldout]
    return train, held
