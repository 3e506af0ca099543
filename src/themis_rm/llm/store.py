"""A content-addressed store of completed chat responses, so an interrupted run resumes.

Each answer is committed as soon as it arrives, keyed by the hash of the request body
(model included, server address excluded). The store may share its SQLite file with the
score cache (`scoring/cache.py`): it uses its own table, and WAL mode lets both connect.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from themis_rm.llm.types import ChatResponse

_TABLE = "chat_responses"


class ResponseStore:
    """Thread-safe: the blocking client writes from its event-loop thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (key TEXT PRIMARY KEY, response TEXT NOT NULL)")
        self._db.commit()

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            row = self._db.execute(f"SELECT response FROM {_TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else ChatResponse.from_json(json.loads(row[0]), from_store=True)

    def put(self, key: str, response: ChatResponse) -> None:
        blob = json.dumps(response.to_json(), ensure_ascii=False)
        with self._lock, self._db:
            self._db.execute(f"INSERT OR REPLACE INTO {_TABLE} (key, response) VALUES (?, ?)", (key, blob))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
