"""The judge's settings: one object for the Python API, the `themis eval` options and the run manifest.

Spec string: `judge:<model>@<base_url>[#<API_KEY_ENV>]`, e.g.
`judge:Qwen/Qwen3-8B@http://127.0.0.1:8000/v1` or `judge:gpt-4.1-mini@https://api.openai.com/v1#OPENAI_API_KEY`.

Defaults that differ from the servers' own: `temperature=0.0` (servers default to 1.0), a
fixed `judge_seed=0` (sample *i* of a request is sent with seed `judge_seed + i`), and no
API key unless one is named: a key is never read from a default variable, so it cannot
leak to a server it was not meant for.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from themis_rm.llm import ClientConfig
from themis_rm.scoring.base import ScorerError

_SPEC = re.compile(r"^(?P<model>.+?)@(?P<url>https?://[^#\s]+?)(?:#(?P<env>[A-Za-z_][A-Za-z0-9_]*))?$")

#: Names of the options `themis eval` passes (its flags, in snake case).
JUDGE_OPTIONS = frozenset(
    {
        "judge_protocol",
        "temperature",
        "judge_seed",
        "max_tokens",
        "samples",
        "concurrency",
        "api_key_env",
        "timeout",
        "request_cache",
    }
)


_TYPES = {"temperature": float, "judge_seed": int, "max_tokens": int, "samples": int, "concurrency": int,
          "timeout": float, "top_logprobs": int, "max_retries": int}


@dataclass(frozen=True)
class JudgeConfig:
    """Everything that sets up a judge. `max_tokens=None` takes the protocol's default."""

    model: str
    base_url: str
    judge_protocol: str = "rating"
    temperature: float = 0.0
    judge_seed: int = 0
    max_tokens: int | None = None
    samples: int = 1
    concurrency: int = 16
    api_key_env: str | None = None
    timeout: float = 120.0
    #: SQLite file for completed chat responses (may be the score cache's file); None keeps none.
    request_cache: str | None = None
    #: Alternatives asked per token when the protocol reads log-probs (OpenAI allows up to 20).
    top_logprobs: int = 20
    max_retries: int = 5

    def __post_init__(self) -> None:
        for name, kind in _TYPES.items():  # options may arrive as text (YAML, environment)
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                try:
                    object.__setattr__(self, name, kind(value))
                except (TypeError, ValueError):
                    raise ScorerError(f"--{name.replace('_', '-')} must be a {kind.__name__}, got {value!r}") from None
        if self.samples < 1:
            raise ScorerError(f"--samples must be >= 1, got {self.samples}")
        if self.samples > 1 and self.temperature == 0:
            raise ScorerError("--samples > 1 needs --temperature > 0: greedy samples are all the same")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ScorerError(f"--max-tokens must be >= 1, got {self.max_tokens}")
        if self.concurrency < 1:
            raise ScorerError(f"--concurrency must be >= 1, got {self.concurrency}")
        if self.timeout <= 0:
            raise ScorerError(f"--timeout must be > 0 seconds, got {self.timeout}")

    @staticmethod
    def from_spec(argument: str, options: dict[str, Any]) -> JudgeConfig:
        match = _SPEC.match(argument.strip())
        if match is None:
            raise ScorerError(
                f"judge spec must be judge:<model>@<base_url>[#API_KEY_ENV], e.g. "
                f"judge:Qwen/Qwen3-8B@http://127.0.0.1:8000/v1; got judge:{argument}"
            )
        options = dict(options)
        env = match.group("env")
        if env and options.get("api_key_env") not in (None, env):
            raise ScorerError(f"the spec names key variable {env} but --api-key-env says {options['api_key_env']}")
        if env:
            options["api_key_env"] = env
        return JudgeConfig(model=match.group("model"), base_url=match.group("url"), **options)

    def client_config(self) -> ClientConfig:
        try:
            return ClientConfig(
                base_url=self.base_url,
                model=self.model,
                api_key=self.api_key(),
                concurrency=self.concurrency,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        except ValueError as err:
            raise ScorerError(str(err)) from err

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ScorerError(f"environment variable {self.api_key_env} (named for the judge's API key) is not set")
        return key

    def manifest(self) -> dict[str, Any]:
        """For run outputs: the settings, with the key variable's name but never its value."""
        return asdict(self)
