"""The request cache: SQLite, keyed by a versioned hash of the canonical request.

An answer is committed before the pipeline uses it, so a run killed at any moment never pays for
the same request twice. WAL mode with ``synchronous=NORMAL`` keeps commits cheap: a killed process
loses nothing (the OS holds the pages); only a power cut could lose the last transactions.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from teachkit.records import dumps, loads
from teachkit.teachers.base import Response

__all__ = ["RequestCache"]

#: named, ordered migrations; the applied count is kept in PRAGMA user_version
_MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "m001_responses",
        """
        CREATE TABLE IF NOT EXISTS responses (
            key TEXT PRIMARY KEY,
            backend TEXT NOT NULL,
            model TEXT NOT NULL,
            response BLOB NOT NULL,
            created REAL NOT NULL
        )
        """,
    ),
)


class RequestCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._migrate()
        self.hits = 0
        self.misses = 0

    def _migrate(self) -> None:
        (applied,) = self._db.execute("PRAGMA user_version").fetchone()
        for index, (_name, sql) in enumerate(_MIGRATIONS[applied:], start=applied + 1):
            self._db.execute("BEGIN")
            self._db.execute(sql)
            self._db.execute(f"PRAGMA user_version={index}")
            self._db.execute("COMMIT")

    def get(self, key: str) -> Response | None:
        row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        data: dict[str, Any] = loads(row[0])
        return Response.from_dict(data, cached=True)

    def put(self, key: str, backend: str, model: str, response: Response) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, backend, model, response, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, backend, model, dumps(response.to_dict()), time.time()),
        )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def close(self) -> None:
        self._db.close()
