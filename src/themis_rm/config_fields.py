"""Reading a config mapping from YAML: one check, shared by every config file Themis reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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
