"""Criteria prompts: the system turn that tells a reward model what "better" means.

Three modes:

| mode     | system turn                                                   |
|----------|---------------------------------------------------------------|
| `none`   | no system turn at all                                         |
| `full`   | the general preamble plus every code criterion                |
| `aspect` | the general preamble plus the pair's own criterion            |

The texts below are ours. `load_criteria(path)` replaces any of them from a YAML file
with the keys `preamble`, `general` and `aspects` (a mapping from aspect name to text),
so a user can reproduce another team's prompts exactly. `CriteriaTexts.digest()` is
recorded in every run so that two runs can tell whether they used the same words.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import yaml

from themis_rm.schema import CODE_ASPECTS, Aspect


class PromptMode(str, Enum):
    NONE = "none"
    FULL = "full"
    ASPECT = "aspect"

    def __str__(self) -> str:
        return self.value


DEFAULT_PREAMBLE = (
    "You are judging a response written by an AI assistant to a programming request. "
    "Rate how good the response is against the criteria below; a higher rating means a better response."
)

DEFAULT_GENERAL = (
    "In general, prefer a response that does what the user asked, stays on topic, is honest about "
    "what it does not know and causes no harm."
)

DEFAULT_ASPECT_TEXTS: dict[Aspect, str] = {
    Aspect.FUNCTIONAL_CORRECTNESS: (
        "Functional correctness: the code compiles or parses, handles every input the request allows "
        "(including empty, boundary and malformed ones), returns exactly what is asked, and has no "
        "logic, off-by-one or type errors."
    ),
    Aspect.RUNTIME_EFFICIENCY: (
        "Runtime efficiency: the code uses an algorithm of the lowest reasonable time complexity, avoids "
        "repeated work such as scans or searches nested inside loops, and uses fitting data structures "
        "and library routines."
    ),
    Aspect.MEMORY_EFFICIENCY: (
        "Memory efficiency: the code keeps peak memory low, streams instead of loading everything at "
        "once where it can, avoids needless copies and intermediate collections, and releases what it "
        "acquires."
    ),
    Aspect.READABILITY_MAINTAINABILITY: (
        "Readability and maintainability: the code is easy to follow and change, with clear names, "
        "small focused functions, shallow nesting, no duplication or dead code, and comments that "
        "explain intent where it is not obvious."
    ),
    Aspect.SECURITY_HARDNESS: (
        "Security: the code validates untrusted input, avoids injection (SQL, shell, HTML), unsafe "
        "deserialisation, buffer overflows and weak cryptography, keeps secrets out of the source, "
        "and fails safely."
    ),
}


@dataclass(frozen=True)
class CriteriaTexts:
    """The words of every criteria prompt; immutable so that a digest always matches the texts."""

    preamble: str = DEFAULT_PREAMBLE
    general: str = DEFAULT_GENERAL
    aspects: dict[Aspect, str] = field(default_factory=lambda: dict(DEFAULT_ASPECT_TEXTS))

    def system_prompt(
        self,
        mode: PromptMode | str,
        aspect: Aspect | None = None,
        order: Sequence[Aspect] | None = None,
    ) -> str | None:
        """The system turn for one request; `order` lets the training sampler shuffle the criteria."""
        mode = PromptMode(mode)
        if mode is PromptMode.NONE:
            return None
        if aspect is not None and not aspect.is_code:
            return f"{self.preamble}\n\n{self.general}"
        if mode is PromptMode.ASPECT:
            if aspect is None:
                raise ValueError("prompt mode 'aspect' needs the pair's aspect")
            body = f"- {self.aspects[aspect]}"
        else:
            body = "\n".join(f"- {self.aspects[a]}" for a in (order or CODE_ASPECTS))
        return f"{self.preamble}\n\n{self.general}\n\nCriteria:\n{body}"

    def digest(self) -> str:
        blob = json.dumps(
            {"preamble": self.preamble, "general": self.general,
             "aspects": {a.value: t for a, t in sorted(self.aspects.items(), key=lambda kv: kv[0].value)}},
            sort_keys=True, ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def load_criteria(path: str | Path | None) -> CriteriaTexts:
    """The default texts, with whatever the YAML file at `path` overrides."""
    texts = CriteriaTexts()
    if path is None:
        return texts
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read criteria file: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: criteria file must be a mapping with preamble/general/aspects")
    unknown = set(raw) - {"preamble", "general", "aspects"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; allowed: preamble, general, aspects")
    aspects = dict(texts.aspects)
    for name, text in (raw.get("aspects") or {}).items():
        try:
            aspects[Aspect.parse(name)] = str(text).strip()
        except ValueError as err:
            raise ValueError(f"{path}: aspects: {err}") from err
    return replace(
        texts,
        preamble=str(raw.get("preamble", texts.preamble)).strip(),
        general=str(raw.get("general", texts.general)).strip(),
        aspects=aspects,
    )


@dataclass
class CriteriaSampler:
    """Draws a prompt mode per training example, so one model learns to follow any criteria prompt.

    Probabilities are parameters (defaults 0.15 none / 0.60 aspect / 0.25 full). In `full` mode the
    code criteria are shuffled per example so the model cannot key on their order.
    """

    texts: CriteriaTexts = field(default_factory=CriteriaTexts)
    p_none: float = 0.15
    p_aspect: float = 0.60
    p_full: float = 0.25

    def __post_init__(self) -> None:
        total = self.p_none + self.p_aspect + self.p_full
        if min(self.p_none, self.p_aspect, self.p_full) < 0 or abs(total - 1.0) > 1e-6:
            raise ValueError(f"criteria probabilities must be >= 0 and sum to 1, got {total:.4f}")

    def draw(self, aspect: Aspect, rng: random.Random) -> tuple[PromptMode, str | None]:
        roll = rng.random()
        if roll < self.p_none:
            mode = PromptMode.NONE
        elif roll < self.p_none + self.p_aspect:
            mode = PromptMode.ASPECT
        else:
            mode = PromptMode.FULL
        order = list(CODE_ASPECTS)
        if mode is PromptMode.FULL:
            rng.shuffle(order)
        return mode, self.texts.system_prompt(mode, aspect, order=order)
