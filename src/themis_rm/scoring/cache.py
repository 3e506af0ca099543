"""A content-addressed score cache on disk, so an interrupted run resumes where it stopped."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from themis_rm.scoring.base import Scored

_BATCH = 500  # SQLite's host-parameter limit is 999 on old builds
_BUSY_TIMEOUT_S = 60.0  # how long a write waits for another rank's write to finish
_OPEN_ATTEMPTS = 20


class ScoreCache:
    """Maps a request key (which already includes the scorer's fingerprint) to its `Scored`.

    Writes are committed per call, so whatever was scored before a crash is kept.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=_BUSY_TIMEOUT_S)
        for attempt in range(_OPEN_ATTEMPTS):  # data-parallel ranks open the same file at the same moment
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value REAL, detail TEXT)")
                self._db.commit()
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == _OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def get_many(self, keys: Iterable[str]) -> dict[str, Scored]:
        keys = list(keys)
        found: dict[str, Scored] = {}
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, value, detail FROM scores WHERE key IN ({marks})", chunk)
            for key, value, detail in rows:
                found[key] = Scored(
                    math.nan if value is None else float(value),
                    json.loads(detail) if detail else None,
                )
        return found

    def put_many(self, items: Mapping[str, Scored]) -> None:
        rows = [
            (key, None if math.isnan(s.value) else s.value, json.dumps(s.detail, ensure_ascii=False) if s.detail else None)
            for key, s in items.items()
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores (key, value, detail) VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def close(self) -> None:
        self._db.close()
