"""Writers for pair files: JSON lines or Parquet, chosen by the file's suffix."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from themis_rm.schema import PreferencePair


def _as_row(item: PreferencePair | Mapping[str, Any]) -> dict[str, Any]:
    return item.to_row() if isinstance(item, PreferencePair) else dict(item)


def write_pairs(items: Iterable[PreferencePair | Mapping[str, Any]], path: str | Path) -> int:
    """Write rows atomically (to a temporary name, then renamed); returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [_as_row(item) for item in items]
    partial = path.with_name(path.name + ".partial")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with partial.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        if any(not isinstance(r.get("prompt"), str) for r in rows):
            # Parquet columns have one type: promote plain prompts to a single user turn.
            for row in rows:
                if isinstance(row.get("prompt"), str):
                    row["prompt"] = [{"role": "user", "content": row["prompt"]}]
        pq.write_table(pa.Table.from_pylist(rows), partial)
    else:
        raise ValueError(f"{path}: write .jsonl or .parquet, not {suffix or 'a file without suffix'}")
    partial.replace(path)
    return len(rows)
