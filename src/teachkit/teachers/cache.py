"""The request cache: SQLite, keyed by a versioned hash of the canonical request.

An answer is durable before the pipeline uses it, so a run killed at any moment never pays for
the same request twice. To keep that cheap at hundreds of answers per second, a write goes first
to an append-only log beside the database (one small write per answer) and reaches SQLite in
batches (one transaction per batch); opening the cache replays whatever a killed process left in
the log. A second process using the same cache file writes straight to SQLite instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import IO, Any

import orjson

from teachkit.records import dumps, loads
from teachkit.teachers.backend import Response

__all__ = ["RequestCache"]

log = logging.getLogger("teachkit")

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
_INSERT = (
    "INSERT OR REPLACE INTO responses (key, backend, model, response, created) "
    "VALUES (?, ?, ?, ?, ?)"
)

Row = tuple[str, str, str, bytes, float]


class RequestCache:
    def __init__(self, path: str | Path, *, batch: int = 256, flush_every: float = 0.5) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._migrate()
        self.batch = batch
        self.flush_every = flush_every
        self._pending: dict[str, Row] = {}
        self._last_flush = time.monotonic()
        self._log: IO[bytes] | None = self._open_log()
        self.hits = 0
        self.misses = 0

    @property
    def log_path(self) -> Path:
        return self.path.with_name(self.path.name + ".log")

    def _migrate(self) -> None:
        (applied,) = self._db.execute("PRAGMA user_version").fetchone()
        for index, (_name, sql) in enumerate(_MIGRATIONS[applied:], start=applied + 1):
            self._db.execute("BEGIN")
            self._db.execute(sql)
            self._db.execute(f"PRAGMA user_version={index}")
            self._db.execute("COMMIT")

    def _open_log(self) -> IO[bytes] | None:
        handle = open(self.log_path, "a+b")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process owns the log: write through instead
            handle.close()
            return None
        handle.seek(0)
        rows: list[Row] = []
        for line in handle.read().split(b"\n"):
            try:
                key, backend, model, blob, created = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # an empty line, or a half-written last one from a killed process
            rows.append((key, backend, model, blob.encode(), float(created)))
        if rows:
            log.info("recovering %d cached answers from %s", len(rows), self.log_path)
            self._write(rows)
        handle.truncate(0)
        return handle

    def _write(self, rows: list[Row]) -> None:
        self._db.execute("BEGIN")
        self._db.executemany(_INSERT, rows)
        self._db.execute("COMMIT")

    def get(self, key: str) -> Response | None:
        pending = self._pending.get(key)
        if pending is not None:
            blob: bytes | None = pending[3]
        else:
            row = self._db.execute(
                "SELECT response FROM responses WHERE key = ?", (key,)
            ).fetchone()
            blob = row[0] if row else None
        if blob is None:
            self.misses += 1
            return None
        self.hits += 1
        data: dict[str, Any] = loads(blob)
        return Response.from_dict(data, cached=True)

    def put(self, key: str, backend: str, model: str, response: Response) -> None:
        blob = dumps(response.to_dict())
        row: Row = (key, backend, model, blob, time.time())
        if self._log is None:
            self._write([row])
            return
        # durable against a kill once write() returns: the OS holds the bytes
        self._log.write(orjson.dumps([key, backend, model, blob.decode(), row[4]]) + b"\n")
        self._log.flush()
        self._pending[key] = row
        now = time.monotonic()
        if len(self._pending) >= self.batch or now - self._last_flush >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Move logged answers into SQLite and empty the log."""
        self._last_flush = time.monotonic()
        if not self._pending or self._log is None:
            return
        self._write(list(self._pending.values()))
        self._pending.clear()
        self._log.truncate(0)

    def __len__(self) -> int:
        self.flush()
        (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def close(self) -> None:
        self.flush()
        if self._log is not None:
            self._log.close()
            self._log = None
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.log_path)
        self._db.close()
