"""Reading a score, a verdict or a yes/no margin out of what a judge wrote.

Each reader runs a cascade of rules from the most explicit to the least, and returns
which rule answered (`path`) and what every earlier rule saw (`trace`), so a run can be
audited and a changed rule re-applied to stored outputs. Nothing here guesses: when no
rule answers, the value is None and the caller counts a parse failure.

| reader          | rules, in order                                                                   |
|-----------------|-----------------------------------------------------------------------------------|
| `read_score`    | `json` (`{"score": 7}`), `label` (`Score: 7`), `fraction` (`7/10`, `7 out of 10`), |
|                 | `boxed` (`\\boxed{7}`), `last_number` (the last number outside code, if in range) |
| `read_verdict`  | `json` (`{"winner": "A"}`), `label` (`Winner: A`), `brackets` (`[[A]]`),          |
|                 | `boxed`, `phrase` (`Response A is better`)                                        |
| `read_yes_no`   | log P(yes) − log P(no) at the answer token, from the returned top log-probs       |

Reasoning in `<think>…</think>` is dropped first; an unclosed `<think>` means the answer
was never written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_JSON_BLOCK = re.compile(r"\{[^{}]*\}", re.DOTALL)
_SCORE_KEYS = ("score", "rating", "final_score", "overall_score", "grade")
_VERDICT_KEYS = ("winner", "verdict", "better", "preferred", "preference", "choice", "answer")
_SCORE_LABEL = re.compile(
    rf"(?:score|rating|grade)\s*(?:\*\*)?\s*(?:[:=]|is|of)\s*(?:\*\*)?\s*\[?\s*({_NUMBER})", re.IGNORECASE
)
_FRACTION = re.compile(rf"({_NUMBER})\s*(?:/|out\s+of)\s*(\d+)", re.IGNORECASE)
_BOXED_NUMBER = re.compile(rf"\\boxed\{{\s*({_NUMBER})\s*\}}")
_ANY_NUMBER = re.compile(rf"(?<![\w.]){_NUMBER}(?![\w])")
_CODE_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_SIDE = r"(?:(?:response|assistant|answer|output)\s+)?((?-i:[AB])|tie)\b"
_VERDICT_LABEL = re.compile(
    rf"(?:winner|verdict|better\s+response|preferred\s+response|preference|choice|final\s+answer)"
    rf"\s*(?:\*\*)?\s*[:=]\s*(?:\*\*)?\s*[\[(]*\s*{_SIDE}",
    re.IGNORECASE,
)
_VERDICT_BRACKETS = re.compile(r"\[\[\s*((?-i:[AB])|tie)\s*\]\]", re.IGNORECASE)
_VERDICT_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?((?-i:[AB])|tie)\b", re.IGNORECASE)
_VERDICT_PHRASE = re.compile(
    r"(?:(?:response|assistant|answer|output)\s+((?-i:[AB]))\s+is\s+(?:clearly\s+)?(?:the\s+)?"
    r"(?:better|preferred|superior|stronger))|(?:prefer\s+(?:response|assistant|answer|output)\s+((?-i:[AB]))\b)",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"\b(?:I\s+(?:can(?:no|'|’)?t|am\s+(?:not\s+able|unable)|won(?:'|’)t|will\s+not)\s+"
    r"(?:help|assist|evaluate|judge|rate|score|comply|provide|do\s+that)"
    r"|I(?:'|’)m\s+(?:sorry|unable|not\s+able)|I\s+apologi[sz]e|as\s+an\s+AI\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Extraction:
    """What a reader found: `value` (None when nothing), the rule that found it, what earlier rules saw."""

    value: Any
    path: str | None
    trace: tuple[str, ...] = ()
    floored: str | None = None  # yes/no only: which side's log-prob was missing and took the floor

    @property
    def ok(self) -> bool:
        return self.value is not None


def answer_part(text: str) -> tuple[str, str | None]:
    """The text after any reasoning block, and a note when the reasoning never closed."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1], None
    if "<think>" in text:
        return "", "think: reasoning never closed"
    return text, None


def is_refusal(text: str) -> bool:
    """Whether a judge output that yielded nothing reads as a refusal to judge."""
    return bool(_REFUSAL.search(text))


def read_score(text: str, low: float, high: float) -> Extraction:
    answer, note = answer_part(text)
    trace: list[str] = [note] if note else []

    def fits(value: float, rule: str) -> bool:
        if low <= value <= high:
            return True
        trace.append(f"{rule}: {value:g} outside {low:g}..{high:g}")
        return False

    for rule, found in (
        ("json", _last_json_number(answer)),
        ("label", _last_number(_SCORE_LABEL, answer)),
        ("fraction", _last_fraction(answer, high)),
        ("boxed", _last_number(_BOXED_NUMBER, answer)),
        ("last_number", _last_number(_ANY_NUMBER, _CODE_FENCE.sub(" ", answer), group=0)),
    ):
        if found is None:
            trace.append(f"{rule}: none")
        elif fits(found, rule):
            return Extraction(found, rule, tuple(trace))
    return Extraction(None, None, tuple(trace))


def read_verdict(text: str) -> Extraction:
    """"A", "B" or "tie" as the judge wrote it (positions, not benchmark sides)."""
    answer, note = answer_part(text)
    trace: list[str] = [note] if note else []
    for rule, found in (
        ("json", _last_json_verdict(answer)),
        ("label", _last_side(_VERDICT_LABEL, answer)),
        ("brackets", _last_side(_VERDICT_BRACKETS, answer)),
        ("boxed", _last_side(_VERDICT_BOXED, answer)),
        ("phrase", _last_side(_VERDICT_PHRASE, answer)),
    ):
        if found is None:
            trace.append(f"{rule}: none")
        else:
            return Extraction(found, rule, tuple(trace))
    return Extraction(None, None, tuple(trace))


def yes_no_word(token: str) -> str | None:
    """`" Yes"`, `"YES"`, `"▁yes"`, `"**No"` → "yes"/"no"; anything else → None."""
    word = re.sub(r"[^a-z]", "", token.lower())
    return word if word in ("yes", "no") else None


def read_yes_no(positions: Sequence[Sequence[Any]] | None) -> Extraction:
    """log P(yes) − log P(no) at the answer token.

    `positions` are the generated tokens as `[token, logprob, [[alternative, logprob], ...]]`.
    The answer token is the first generated token that is a yes/no word, else the first
    position whose alternatives include one. Spellings of a word (`Yes`, ` yes`, `YES`) are
    pooled with log-sum-exp. A word missing from the alternatives gets the **floor**: the
    lowest log-prob listed at that position, an upper bound on its true log-prob, so the
    margin is then a bound (its sign is right) and the sample is marked `floored`.
    """
    if not positions:
        return Extraction(None, None, ("logprobs: none returned",))
    index = next((i for i, p in enumerate(positions) if yes_no_word(str(p[0]))), None)
    path = "sampled"
    if index is None:
        path = "alternatives"
        index = next((i for i, p in enumerate(positions) if any(yes_no_word(str(t)) for t, _ in p[2])), None)
    if index is None:
        return Extraction(None, None, (f"logprobs: no yes/no token in {len(positions)} positions",))
    token, logprob, alternatives = positions[index]
    # A list, not a dict: two different token ids may print the same (both count towards the word).
    listed = [(str(t), float(lp)) for t, lp in alternatives]
    if (str(token), float(logprob)) not in listed:
        listed.append((str(token), float(logprob)))
    finite = [(t, lp) for t, lp in listed if math.isfinite(lp)]
    pooled: dict[str, list[float]] = {"yes": [], "no": []}
    for alt, lp in finite:
        word = yes_no_word(alt)
        if word is not None:
            pooled[word].append(lp)
    missing = [w for w in ("yes", "no") if not pooled[w]]
    if len(missing) == 2:
        return Extraction(None, None, (f"logprobs: no finite yes/no log-prob at position {index}",))
    floor = min(lp for _, lp in finite)
    yes = _logsumexp(pooled["yes"]) if pooled["yes"] else floor
    no = _logsumexp(pooled["no"]) if pooled["no"] else floor
    trace = (f"position {index}",)
    return Extraction(yes - no, f"logprobs_{path}", trace, floored=missing[0] if missing else None)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = re.fullmatch(rf"\s*({_NUMBER})\s*(?:/\s*\d+)?\s*", value)
        return float(match.group(1)) if match else None
    return None


def _json_objects(text: str) -> list[dict[str, Any]]:
    found = []
    for block in _JSON_BLOCK.findall(text):
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append({str(k).lower(): v for k, v in value.items()})
    return found


def _last_json_number(text: str) -> float | None:
    for obj in reversed(_json_objects(text)):
        for key in _SCORE_KEYS:
            if key in obj and (value := _to_float(obj[key])) is not None:
                return value
    return None


def _last_json_verdict(text: str) -> str | None:
    for obj in reversed(_json_objects(text)):
        for key in _VERDICT_KEYS:
            if isinstance(obj.get(key), str):
                side = _side(re.sub(r"^(?:response|assistant|answer|output)\s+", "", obj[key].strip(), flags=re.I))
                if side is not None:
                    return side
    return None


def _side(text: str) -> str | None:
    text = text.strip().strip("[]()*. ")
    if text in ("A", "B"):
        return text
    return "tie" if text.lower() == "tie" else None


def _last_side(pattern: re.Pattern[str], text: str) -> str | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    groups = [g for g in matches[-1].groups() if g]
    return _side(groups[0]) if groups else None


def _last_number(pattern: re.Pattern[str], text: str, group: int = 1) -> float | None:
    matches = list(pattern.finditer(text))
    return float(matches[-1].group(group)) if matches else None


def _last_fraction(text: str, high: float) -> float | None:
    for match in reversed(list(_FRACTION.finditer(text))):
        if float(match.group(2)) == high:
            return float(match.group(1))
    return None
