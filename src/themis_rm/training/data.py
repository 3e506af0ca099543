"""Turn preference pairs into token ids: criteria draw, chat template, prompt mask, length policy.

Each side is rendered as one conversation, `[system?] + prompt turns + assistant response`, with
the tokenizer's own chat template (never a guessed one) and tokenised as text with
`add_special_tokens=False`, exactly as a scorer does with
`tokenizer(apply_chat_template(messages, tokenize=False), add_special_tokens=False)`.
The reward is read at the last token of that rendering.

Token regions of one side, found from character offsets:

| region  | what                                           | LM term      | truncate_response |
|---------|------------------------------------------------|--------------|-------------------|
| prompt  | system + user turns + the generation prompt    | masked       | kept              |
| reply   | template lead-in (e.g. a think block) + text   | chosen only  | cut from its end  |
| tail    | end-of-turn tokens after the response text     | chosen only  | kept              |

Nothing is dropped silently: every truncation, drop and own-system row is counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from themis_rm.criteria import CriteriaSampler, PromptMode
from themis_rm.schema import PreferencePair, ScoreRequest, prompt_messages


class TrainingDataError(ValueError):
    """A pair cannot be encoded under the chosen policy; the message names the pair."""


@dataclass(frozen=True)
class Encoded:
    """One tokenised pair. `label_start`: first chosen position whose token the LM term predicts."""

    index: int
    chosen: np.ndarray
    rejected: np.ndarray
    label_start: int
    truncated: bool

    @property
    def n_tokens(self) -> int:
        return len(self.chosen) + len(self.rejected)

    @property
    def n_lm_tokens(self) -> int:
        return len(self.chosen) - self.label_start


@dataclass
class EncodedSet:
    examples: list[Encoded]
    counts: Counter = field(default_factory=Counter)
    #: a few untruncated chosen renderings with their ids, for the export round-trip check
    probes: list[dict] = field(default_factory=list)


def own_system(pair: PreferencePair) -> str | None:
    """The row's own system turn: a `system` column or a system message at the head of the prompt."""
    value = pair.extra.get("system")
    if isinstance(value, str) and value.strip():
        return value
    messages = prompt_messages(pair.prompt)
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"]
    return None


def draw_systems(
    pairs: Sequence[PreferencePair], sampler: CriteriaSampler, seed: int, stage: int, epoch: int,
    counts: Counter,
) -> list[str | None]:
    """One criteria system turn per pair, from a per-pair RNG so the draw does not depend on order or rank.

    A row that carries its own system turn keeps it (counted as `own_system`); the draw is still
    made so that other rows' draws do not shift.
    """
    systems: list[str | None] = []
    for index, pair in enumerate(pairs):
        rng = random.Random(f"themis:{seed}:{stage}:{epoch}:{index}")
        mode, system = sampler.draw(pair.aspect, rng)
        own = own_system(pair)
        if own is not None:
            counts["own_system"] += 1
            systems.append(own if pair.extra.get("system") else None)  # prompt's own turn stays in the prompt
            continue
        kind = "general" if mode is not PromptMode.NONE and not pair.aspect.is_code else str(mode)
        counts[f"mode_{kind}"] += 1
        systems.append(system)
    return systems


class ChatEncoder:
    """Renders and tokenises sides of pairs under one length policy."""

    def __init__(self, tokenizer, max_length: int, over_length: str, stage: str = "") -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise TrainingDataError("training needs a fast tokenizer (character offsets locate the response)")
        if not getattr(tokenizer, "chat_template", None):
            raise TrainingDataError(
                "the tokenizer has no chat template; give one with --chat-template (it is never guessed)")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.over_length = over_length
        self.stage = stage

    def render(self, system: str | None, prompt, response: str,
               head: str | None = None) -> tuple[str, int, tuple[int, int]]:
        """Full text, length of the prompt part, and the character span of the response text in it.
        `head` is the rendered generation prompt, when the caller has it (both sides of a pair share it)."""
        messages = ScoreRequest(system, prompt, response).messages()
        full = self.tokenizer.apply_chat_template(messages, tokenize=False)
        if head is None:
            head = self.head(system, prompt)
        if not full.startswith(head):
            raise TrainingDataError(
                "the chat template does not render a conversation as its generation prompt plus the reply; "
                "the prompt cannot be masked (give a compatible --chat-template)")
        for variant in dict.fromkeys((response, response.strip(), response.lstrip("\n"), response.rstrip())):
            start = full.find(variant, len(head)) if variant else -1
            if start >= 0:
                return full, len(head), (start, start + len(variant))
        raise TrainingDataError("the chat template changes the response text; cannot locate it in the rendering")

    def head(self, system: str | None, prompt) -> str:
        """The rendered conversation up to and including the reply's opening (the generation prompt)."""
        messages = ScoreRequest(system, prompt, "").messages()[:-1]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def encode(self, pairs: Sequence[PreferencePair], systems: Sequence[str | None],
               n_probes: int = 8, chunk: int = 256) -> EncodedSet:
        """Tokenise in chunks of pairs: the tokenizer's offsets are Python tuples, too many to hold at once."""
        out = EncodedSet([])
        for first in range(0, len(pairs), chunk):
            self._encode_chunk(pairs, systems, range(first, min(first + chunk, len(pairs))), out, n_probes)
        out.counts["pairs_encoded"] += len(out.examples)
        return out

    def _encode_chunk(self, pairs, systems, indices: range, out: EncodedSet, n_probes: int) -> None:
        texts, spans = [], []
        for index in indices:
            head = self.head(systems[index], pairs[index].prompt)
            for response in (pairs[index].chosen, pairs[index].rejected):
                text, head_chars, span = self.render(systems[index], pairs[index].prompt, response, head)
                texts.append(text)
                spans.append((head_chars, *span))
        batch = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        for k, index in enumerate(indices):
            pair = pairs[index]
            sides = [self._fit(pair, name, batch["input_ids"][2 * k + side], batch["offset_mapping"][2 * k + side],
                               spans[2 * k + side], out.counts)
                     for side, name in enumerate(("chosen", "rejected"))]
            (chosen, label_start, cut_c), (rejected, _, cut_r) = sides
            if chosen is None or rejected is None:
                out.counts["dropped_over_length"] += 1
                continue
            if np.array_equal(chosen, rejected):
                out.counts["dropped_identical_after_truncation"] += 1
                continue
            out.counts["truncated_chosen"] += cut_c
            out.counts["truncated_rejected"] += cut_r
            out.examples.append(Encoded(index, chosen, rejected, label_start, bool(cut_c or cut_r)))
            if not cut_c and len(out.probes) < n_probes:
                out.probes.append({"text": texts[2 * k], "ids": chosen.tolist()})

    def _fit(self, pair, side: str, ids: list[int], offsets, span, counts: Counter):
        """Apply the length policy to one side: (ids or None when dropped, label start, truncated?)."""
        prompt_chars, start, end = span
        label_start = sum(1 for _, stop in offsets if stop <= prompt_chars)
        n = len(ids)
        if n <= self.max_length:
            return np.asarray(ids, dtype=np.int64), label_start, 0
        where = f"pair {pair.id!r}" + (f" (stage {self.stage!r})" if self.stage else "")
        if self.over_length == "error":
            raise TrainingDataError(
                f"{where}: {side} is {n} tokens, over max_length {self.max_length} "
                "(raise max_length, or set over_length to truncate_response or drop)")
        if self.over_length == "drop":
            return None, label_start, 0
        head = sum(1 for first, _ in offsets if first < start)
        tail_from = sum(1 for first, _ in offsets if first < end)
        keep = self.max_length - head - (n - tail_from)
        if keep < 1:  # the prompt and end-of-turn alone fill the budget: nothing of the reply would remain
            counts[f"prompt_too_long_{side}"] += 1
            return None, label_start, 0
        cut = ids[:head + keep] + ids[tail_from:]
        return np.asarray(cut, dtype=np.int64), min(label_start, head), 1
