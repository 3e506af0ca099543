"""Config dataclasses read from YAML and flags: the field metadata and checks they all share."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

CHOICES = "choices"


def option(help_text: str, **extra: Any) -> dict[str, Any]:
    """A field's metadata: its help text (the CLI's and the YAML schema's), plus e.g. `choices`."""
    return {"help": help_text, **extra}


def known_fields(raw: Any, fields: Iterable[str], where: str) -> dict[str, Any]:
    """`raw` with `-` in keys read as `_`; anything not in `fields` is refused, naming `where`."""
    allowed = list(fields)
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping of fields")
    data = {str(key).replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return data


def choice_problems(obj: Any, fields: Mapping[str, dataclasses.Field], flag_names: bool = False) -> list[str]:
    """One message per field whose value is not among its `choices` (named as `--flag` if asked)."""
    problems = []
    for name, spec in fields.items():
        choices = spec.metadata.get(CHOICES)
        value = getattr(obj, name)
        if choices and value not in choices:
            label = f"--{name.replace('_', '-')}" if flag_names else name
            problems.append(f"{label} must be one of {', '.join(choices)}, got {value!r}")
    return problems
