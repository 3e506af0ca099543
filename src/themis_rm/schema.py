"""The shared vocabulary: aspects, languages, preference pairs and score requests.

Every layer speaks these types, so that a pair read from disk, mined from git or
sent to a server means the same thing everywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


def _squash(text: str) -> str:
    """Lower-case and drop everything but letters and digits, so `C#`, `c-sharp` and `CSharp` meet."""
    return re.sub(r"[^a-z0-9+#]", "", text.lower())


class _Vocabulary(str, Enum):
    """An enum whose members parse from the spellings people actually write."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}

    @classmethod
    def parse(cls, text: object) -> _Vocabulary:
        if isinstance(text, cls):
            return text
        if not isinstance(text, str):
            raise ValueError(f"expected a string, got {type(text).__name__}; allowed: {cls.allowed()}")
        key = _squash(text)
        for member in cls:
            if _squash(member.value) == key:
                return member
        alias = cls._aliases().get(key)
        if alias is not None:
            return cls(alias)
        raise ValueError(f"unknown {cls.__name__.lower()} {text!r}; allowed: {cls.allowed()}")

    @classmethod
    def allowed(cls) -> str:
        return ", ".join(member.value for member in cls)


class Aspect(_Vocabulary):
    """What a preference is about. The five code criteria, plus the two general ones used in training."""

    FUNCTIONAL_CORRECTNESS = "Functional_Correctness"
    RUNTIME_EFFICIENCY = "Runtime_Efficiency"
    MEMORY_EFFICIENCY = "Memory_Efficiency"
    READABILITY_MAINTAINABILITY = "Readability_Maintainability"
    SECURITY_HARDNESS = "Security_Hardness"
    HELPFULNESS = "Helpfulness"
    HARMLESSNESS = "Harmlessness"

    @property
    def is_code(self) -> bool:
        return self in CODE_ASPECTS

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        table = {
            "Functional_Correctness": ["correctness", "functional", "functionality", "correct", "bugfix", "bug"],
            "Runtime_Efficiency": ["runtime", "speed", "performance", "time", "latency",
                                   "runtimeperformance", "timeefficiency"],
            "Memory_Efficiency": ["memory", "mem", "memoryusage", "space", "spaceefficiency"],
            "Readability_Maintainability": ["readability", "maintainability", "readabilityandmaintainability",
                                            "readabilitymaintainability", "readable", "maintain", "style"],
            "Security_Hardness": ["security", "secure", "securityhardening", "hardness", "safety", "vulnerability"],
            "Helpfulness": ["helpful", "help"],
            "Harmlessness": ["harmless", "harm"],
        }
        return {_squash(alias): canonical for canonical, aliases in table.items() for alias in aliases}


CODE_ASPECTS: tuple[Aspect, ...] = (
    Aspect.FUNCTIONAL_CORRECTNESS,
    Aspect.RUNTIME_EFFICIENCY,
    Aspect.MEMORY_EFFICIENCY,
    Aspect.READABILITY_MAINTAINABILITY,
    Aspect.SECURITY_HARDNESS,
)


class Language(_Vocabulary):
    C = "C"
    CSHARP = "CSharp"
    CPP = "Cpp"
    GO = "Go"
    JAVA = "Java"
    JAVASCRIPT = "JavaScript"
    PYTHON = "Python"
    RUBY = "Ruby"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        table = {
            "C": ["ansic", "c99", "c11", "clang"],
            "CSharp": ["c#", "cs", "csharp", "dotnet", "c-sharp"],
            "Cpp": ["c++", "cpp", "cxx", "cplusplus", "cc", "c++17", "c++20", "hpp"],
            "Go": ["golang", "go"],
            "Java": ["java", "jdk"],
            "JavaScript": ["js", "node", "nodejs", "javascript", "ecmascript", "jsx", "mjs"],
            "Python": ["py", "python3", "python2", "python", "py3"],
            "Ruby": ["rb", "ruby"],
        }
        return {_squash(alias): canonical for canonical, aliases in table.items() for alias in aliases}

    @property
    def fence(self) -> str:
        """The tag used on fenced code blocks of this language."""
        return _FENCE_TAGS[self]

    def fenced(self, code: str) -> str:
        """`code` as a response writes it: one fenced block tagged with this language (the fence
        grows past any run of backticks inside the code)."""
        ticks = "```"
        while ticks in code:
            ticks += "`"
        return f"{ticks}{self.fence}\n{code}\n{ticks}"


_FENCE_TAGS = {
    Language.C: "c",
    Language.CSHARP: "csharp",
    Language.CPP: "cpp",
    Language.GO: "go",
    Language.JAVA: "java",
    Language.JAVASCRIPT: "javascript",
    Language.PYTHON: "python",
    Language.RUBY: "ruby",
}

Message = dict[str, str]
Prompt = str | tuple[Message, ...]


def freeze_prompt(prompt: str | list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> Prompt:
    """A hashable prompt: strings stay, chat messages become a tuple of {role, content} dicts."""
    if isinstance(prompt, str):
        return prompt
    return tuple({"role": str(m["role"]), "content": str(m["content"])} for m in prompt)


def prompt_messages(prompt: Prompt) -> list[Message]:
    """The prompt as chat messages (a plain string is one user turn)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def with_system(prompt: Prompt, system: str | None) -> list[Message]:
    """The prompt's messages behind a system turn, unless there is none or the prompt has its own."""
    messages = prompt_messages(prompt)
    if system is not None and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


@dataclass(frozen=True)
class PreferencePair:
    """One benchmark or training row: `chosen` is preferred to `rejected` for `aspect`."""

    id: str
    prompt: Prompt
    chosen: str
    rejected: str
    aspect: Aspect
    language: Language
    subset: str = "default"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_row(self) -> dict[str, Any]:
        prompt = self.prompt if isinstance(self.prompt, str) else [dict(m) for m in self.prompt]
        return {
            "id": self.id,
            "prompt": prompt,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "aspect": self.aspect.value,
            "language": self.language.value,
            "subset": self.subset,
            **self.extra,
        }


@dataclass(frozen=True)
class ScoreRequest:
    """What a pointwise scorer sees: an optional system turn, the prompt and one response.

    `aspect`, `language` and the criteria prompt `mode` travel as context. A scorer declares
    which of them it reads (`Scorer.context_fields`); only those enter the cache key, so a
    scorer that ignores them scores each unique (system, prompt, response) once.
    """

    system: str | None
    prompt: Prompt
    response: str
    aspect: Aspect | None = None
    language: Language | None = None
    mode: str | None = None

    def messages(self) -> list[Message]:
        return [*with_system(self.prompt, self.system), {"role": "assistant", "content": self.response}]

    def key(self, context_fields: frozenset[str] = frozenset()) -> str:
        """A content hash of everything that can change this request's score."""
        payload = {"system": self.system, "prompt": self.prompt, "response": self.response}
        return _content_key(payload, self, context_fields)


@dataclass(frozen=True)
class PairRequest:
    """What a pairwise scorer sees: both responses to one prompt, in benchmark order."""

    system: str | None
    prompt: Prompt
    chosen: str
    rejected: str
    aspect: Aspect | None = None
    language: Language | None = None
    mode: str | None = None

    def key(self, context_fields: frozenset[str] = frozenset()) -> str:
        payload = {"system": self.system, "prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}
        return "pair:" + _content_key(payload, self, context_fields)


def _content_key(payload: dict[str, Any], request: object, context_fields: frozenset[str]) -> str:
    for name in sorted(context_fields):
        value = getattr(request, name)
        payload[name] = None if value is None else str(value)
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
