"""Requests → token ids, exactly as the model's own chat template would give them.

Why a module of its own: the score of a reward model depends on every token it sees, so
rendering and truncation are where "the same numbers as the reference" is won or lost.
The rendered text is tokenised whole (`add_special_tokens=False`, as
`apply_chat_template(tokenize=True)` does), so a row that fits is tokenised exactly as the
reference tokenises it. Only rows over `max_length` are cut, and they are counted.

| `chat_format` | text the model sees |
|---|---|
| `template` | `tokenizer.apply_chat_template(messages)`; a tokenizer without one is an error |
| `plain` | the contents of system, prompt turns and response joined by a blank line, with the tokenizer's own special tokens (e.g. BOS) |

| `truncation` | a row longer than `max_length` tokens |
|---|---|
| `response` | keeps the prompt and the closing tokens of the template, cuts the tail of the response; flagged `truncated`. If the prompt alone does not fit: no score, flagged `dropped` (reason `prompt_too_long`) |
| `drop` | no score, flagged `dropped` (reason `too_long`) |
| `error` | the run stops with an error that counts the rows |
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import ScorerError

CHAT_FORMATS = ("template", "plain")
TRUNCATION_MODES = ("response", "error", "drop")
PLAIN_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Encoded:
    """One request ready for the model. `ids` is empty when the row is dropped."""

    ids: list[int]
    original_length: int
    truncated: bool = False
    dropped: str | None = None  # the reason, when dropped
    prompt_end: int | None = None  # index of the prompt's closing token (for heads that read it)


def template_hash(tokenizer: Any, chat_format: str) -> str:
    """A short digest of what turns messages into text, for the fingerprint and the manifest."""
    if chat_format == "plain":
        blob = f"plain:{PLAIN_SEPARATOR!r}"
    else:
        blob = json.dumps(tokenizer.chat_template, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class ChatRenderer:
    """Renders, tokenises and (if asked) truncates requests for one tokenizer.

    `reserve` tokens are kept free for a head adapter that appends its own token.
    """

    def __init__(
        self,
        tokenizer: Any,
        chat_format: str = "template",
        max_length: int = 4096,
        truncation: str = "response",
        reserve: int = 0,
        want_prompt_end: bool = False,
        model_name: str = "the model",
    ) -> None:
        if chat_format not in CHAT_FORMATS:
            raise ScorerError(f"--chat-format must be one of {', '.join(CHAT_FORMATS)}, got {chat_format!r}")
        if truncation not in TRUNCATION_MODES:
            raise ScorerError(f"--truncation must be one of {', '.join(TRUNCATION_MODES)}, got {truncation!r}")
        if max_length <= reserve + 1:
            raise ScorerError(f"--max-length must be more than {reserve + 1}, got {max_length}")
        if chat_format == "template" and not getattr(tokenizer, "chat_template", None):
            raise ScorerError(
                f"the tokenizer of {model_name} has no chat template; give --chat-format plain to score "
                "'system, prompt and response joined by blank lines', or add a template to the tokenizer"
            )
        self.tokenizer = tokenizer
        self.chat_format = chat_format
        self.max_length = max_length
        self.truncation = truncation
        self.reserve = reserve
        self.want_prompt_end = want_prompt_end
        self.model_name = model_name
        self.template_hash = template_hash(tokenizer, chat_format)
        self._prompt_texts: dict[tuple[str, bool], str] = {}

    # -- text ---------------------------------------------------------------------------

    def render(self, request: ScoreRequest) -> str:
        """The whole conversation as the model sees it, response last."""
        if self.chat_format == "plain":
            return PLAIN_SEPARATOR.join(m["content"] for m in request.messages())
        return self._apply_template(request.messages(), add_generation_prompt=False)

    def prompt_text(self, request: ScoreRequest, generation: bool) -> str:
        """Everything before the response: with `generation`, up to and including the assistant header."""
        messages = request.messages()[:-1]
        key = (json.dumps(messages, sort_keys=True), generation)
        if key not in self._prompt_texts:
            if self.chat_format == "plain":
                text = PLAIN_SEPARATOR.join(m["content"] for m in messages)
                text = text + PLAIN_SEPARATOR if generation else text
            else:
                text = self._apply_template(messages, add_generation_prompt=generation)
            self._prompt_texts[key] = text
        return self._prompt_texts[key]

    def _apply_template(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        try:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except Exception as err:  # a template raises for inputs it refuses (e.g. a system turn)
            roles = ",".join(m["role"] for m in messages)
            raise ScorerError(f"the chat template of {self.model_name} failed on messages ({roles}): {err}") from err

    # -- tokens -------------------------------------------------------------------------

    def encode(self, requests: Sequence[ScoreRequest]) -> list[Encoded]:
        texts = [self.render(r) for r in requests]
        batch = self.tokenizer(
            texts,
            add_special_tokens=self.chat_format == "plain",
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        all_ids: list[list[int]] = batch["input_ids"]
        encodings = getattr(batch, "encodings", None)
        limit = self.max_length - self.reserve
        too_long = [i for i, ids in enumerate(all_ids) if len(ids) > limit]
        if too_long and self.truncation == "error":
            longest = max(len(all_ids[i]) for i in too_long)
            raise ScorerError(
                f"{len(too_long)} of {len(requests)} request(s) exceed --max-length {self.max_length} "
                f"(longest: {longest} tokens) and --truncation is 'error'; use --truncation response or drop, "
                "or a larger --max-length"
            )
        out: list[Encoded] = []
        for index, (request, text, ids) in enumerate(zip(requests, texts, all_ids)):
            offsets = self._offsets(encodings, index, text) if (len(ids) > limit or self.want_prompt_end) else None
            prompt_end = self._prompt_end(request, text, offsets) if self.want_prompt_end else None
            if len(ids) <= limit:
                out.append(Encoded(ids, len(ids), prompt_end=prompt_end))
            elif self.truncation == "drop":
                out.append(Encoded([], len(ids), dropped="too_long"))
            else:
                out.append(self._cut_response(request, text, ids, offsets, limit, prompt_end))
        return out

    def _offsets(self, encodings: Any, index: int, text: str) -> list[tuple[int, int]]:
        if encodings is not None:
            # Tokens the post-processor adds (BOS, EOS) have the empty span (0, 0); moving a trailing
            # one to the end of the text keeps the spans sorted for bisection.
            offsets = list(encodings[index].offsets)
            seen_text = False
            for i, (_, end) in enumerate(offsets):
                if end > 0:
                    seen_text = True
                elif seen_text:
                    offsets[i] = (len(text), len(text))
            return offsets
        raise ScorerError(
            f"the tokenizer of {self.model_name} is not a fast tokenizer, so rows cannot be cut at a "
            "character position; use --truncation drop or a larger --max-length"
        )

    def _prompt_end(self, request: ScoreRequest, text: str, offsets: list[tuple[int, int]] | None) -> int:
        prompt = self.prompt_text(request, generation=False)
        if not text.startswith(prompt) or not prompt:
            raise ScorerError(
                f"the chat template of {self.model_name} does not render the prompt as a prefix of the "
                "conversation, so the head cannot find the prompt's last token"
            )
        # the token holding the prompt's last visible character: the end-of-turn token of the last
        # prompt turn (Llama 3 `<|eot_id|>`, ChatML `<|im_end|>`), not the newline after it
        last = len(prompt.rstrip()) or len(prompt)
        ends = [end for _, end in offsets or []]
        return min(bisect.bisect_left(ends, last), len(ends) - 1)

    def _cut_response(
        self,
        request: ScoreRequest,
        text: str,
        ids: list[int],
        offsets: list[tuple[int, int]] | None,
        limit: int,
        prompt_end: int | None,
    ) -> Encoded:
        """Keep the prompt and the template's closing tokens; drop the response's tail."""
        start, end = self._response_span(request, text)
        ends = [e for _, e in offsets or []]
        starts = [begin for begin, _ in offsets or []]
        first = bisect.bisect_right(ends, start)  # first token that reaches into the response
        after = bisect.bisect_left(starts, end)  # first token of what follows the response
        closing = ids[after:]
        keep = limit - len(closing)
        if keep <= first:
            return Encoded([], len(ids), dropped="prompt_too_long")
        return Encoded(ids[:keep] + closing, len(ids), truncated=True, prompt_end=prompt_end)

    def _response_span(self, request: ScoreRequest, text: str) -> tuple[int, int]:
        """Character span of the response inside the rendered conversation."""
        head = self.prompt_text(request, generation=True)
        search_from = len(head) if text.startswith(head) else 0
        for content in (request.response, request.response.strip()):
            if not content:
                continue
            at = text.rfind(content, search_from)
            if at >= 0:
                return at, at + len(content)
        raise ScorerError(
            f"cannot find the response inside the text rendered by the chat template of {self.model_name}, "
            "so it cannot be cut; use --truncation drop or a larger --max-length"
        )


__all__ = ["CHAT_FORMATS", "PLAIN_SEPARATOR", "TRUNCATION_MODES", "ChatRenderer", "Encoded", "template_hash"]
