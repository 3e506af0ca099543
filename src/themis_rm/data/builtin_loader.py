"""The bundled benchmark (`builtin`): hand-written pairs shipped inside the package.

Each language has one YAML file in `themis_rm/data/builtin/` (format and authoring rules in
docs/builtin.md). The files are ours, so the loader is strict: a typo is a bug to fix, not a row
to skip, and every error names the file and the pair.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from themis_rm.schema import CODE_ASPECTS, Language

SUBSET = "BUILTIN"
PACKAGE = "themis_rm.data.builtin"
REQUIRED_KEYS = ("id", "aspect", "prompt", "chosen", "rejected", "rationale")
OPTIONAL_KEYS = ("tests",)
_ASPECTS = {aspect.value: aspect for aspect in CODE_ASPECTS}


def load_builtin() -> list[dict[str, Any]]:
    """Every pair of every `*.yaml` file in the package folder, in file then pair order."""
    rows: list[dict[str, Any]] = []
    owners: dict[str, str] = {}
    files = sorted((entry for entry in resources.files(PACKAGE).iterdir() if entry.name.endswith(".yaml")),
                   key=lambda entry: entry.name)
    for entry in files:
        for row in parse_builtin_file(entry.name, entry.read_text(encoding="utf-8")):
            if row["id"] in owners:
                raise ValueError(f"{entry.name}: pair {row['id']!r}: duplicate id (also in {owners[row['id']]})")
            owners[row["id"]] = entry.name
            rows.append(row)
    return rows


def parse_builtin_file(name: str, text: str) -> list[dict[str, Any]]:
    """The rows of one language file; `name` is only used in error messages."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(text, Loader=loader)
    if not isinstance(document, dict) or set(document) != {"language", "pairs"}:
        raise ValueError(f"{name}: expected exactly the top-level keys 'language' and 'pairs'")
    try:
        language = Language(document["language"])
    except ValueError:
        raise ValueError(f"{name}: unknown language {document['language']!r}; allowed: {Language.allowed()}") from None
    if not isinstance(document["pairs"], list) or not document["pairs"]:
        raise ValueError(f"{name}: 'pairs' must be a non-empty list")
    rows = []
    seen: set[str] = set()
    for index, pair in enumerate(document["pairs"]):
        row = _row(name, index, pair, language)
        if row["id"] in seen:
            raise ValueError(f"{name}: pair {row['id']!r}: duplicate id")
        seen.add(row["id"])
        rows.append(row)
    return rows


def _row(name: str, index: int, pair: object, language: Language) -> dict[str, Any]:
    label = f"pair {pair.get('id')!r}" if isinstance(pair, dict) and "id" in pair else f"pair #{index}"
    if not isinstance(pair, dict):
        raise ValueError(f"{name}: {label}: expected a mapping, got {type(pair).__name__}")
    unknown = sorted(set(pair) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    missing = [key for key in REQUIRED_KEYS if key not in pair]
    if unknown or missing:
        raise ValueError(f"{name}: {label}: unknown keys {unknown}, missing keys {missing}")
    for key in (*REQUIRED_KEYS, *(k for k in OPTIONAL_KEYS if k in pair)):
        if not isinstance(pair[key], str) or not pair[key].strip():
            raise ValueError(f"{name}: {label}: '{key}' must be a non-empty string")
    if pair["aspect"] not in _ASPECTS:
        raise ValueError(f"{name}: {label}: unknown aspect {pair['aspect']!r}; allowed: {', '.join(_ASPECTS)}")
    if "\n" in pair["rationale"].strip():
        raise ValueError(f"{name}: {label}: 'rationale' must be one line")
    return {
        "id": pair["id"],
        "prompt": pair["prompt"].strip(),
        "chosen": _fence(pair["chosen"], language),
        "rejected": _fence(pair["rejected"], language),
        "aspect": pair["aspect"],
        "language": language.value,
        "subset": SUBSET,
        "rationale": pair["rationale"].strip(),
        "tests": pair.get("tests"),
    }


def _fence(code: str, language: Language) -> str:
    """The response as an assistant writes it: one fenced block, no trailing blank lines."""
    return language.fenced(code.rstrip())


def unfence(block: str) -> str:
    """The raw code inside a block made by `_fence` (used to run and audit the pairs)."""
    first_newline = block.index("\n")
    return block[first_newline + 1 : block.rindex("\n```")]
