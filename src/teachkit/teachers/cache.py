"""The request cache: SQLite, keyed by a versioned hash of the canonical request.

An answer is durable before the pipeline uses it, so a run killed at any moment never pays for
the same request twice. To keep that cheap at hundreds of answers per second, a write goes first
to an append-only log beside the database (one small write per answer) and reaches SQLite in
batches (one transaction per batch); opening the cache replays whatever a killed process left in
the log. A second process using the same cache file writes straight to SQLite instead.

Opening checks the file first: a folder, a parent that is a file, a file that is not SQLite
(random bytes, a truncated file, someone else's database) or a damaged database (``PRAGMA
quick_check``) is refused with a sentence saying how to recover (move the file away: nothing is
lost but paying again for answers already received), before anything is written. A full or
read-only disk becomes an :class:`~teachkit.errors.EnvironmentFault` naming the cache.
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

from teachkit.errors import EnvironmentFault, RunDirError
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

_HEADER = b"SQLite format 3\x00"
#: tables a teachkit cache holds (anything else means the file is another program's database)
_OUR_TABLES = frozenset({"responses"})


def _recover_hint(path: Path) -> str:
    return (
        f"Move it away (mv '{path}' '{path}.bad') and run again: a new cache is made, and "
        "nothing is lost but paying again for answers already received. Or use --no-cache, or "
        "--cache FILE for another cache."
    )


def _not_a_cache(path: Path, why: str) -> RunDirError:
    return RunDirError(f"The request cache {path} {why}. {_recover_hint(path)}", path=str(path))


def _check_place(path: Path) -> None:
    """Refuse a cache path that is a folder, lies under a file, or holds a non-SQLite file."""
    if path.is_dir():
        raise EnvironmentFault(
            f"The request cache {path} is a folder, not a file. Move the folder away, or point "
            "--cache (or cache.path) at a file name.",
            path=str(path),
        )
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise EnvironmentFault(
            f"The request cache {path} cannot be made: {blocker} is a file, not a folder. Move "
            "that file away, or point --cache (or cache.path) somewhere else.",
            path=str(blocker),
        )
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb") as handle:
            header = handle.read(len(_HEADER))
        if header != _HEADER:
            raise _not_a_cache(path, "is not an SQLite file (it may be another file, or damaged)")


def _database_fault(path: Path, exc: sqlite3.Error) -> Exception:
    """The sentence for an SQLite failure on the cache."""
    text = str(exc).lower()
    if "full" in text:
        return EnvironmentFault(
            f"The disk holding the request cache {path} is full. Free some space, then run "
            "the same command again (a run resumes where it stopped).",
            path=str(path),
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text or "i/o" in text:
        return EnvironmentFault(
            f"The request cache {path} cannot be written ({exc}): the disk may be read-only or "
            "the file's permissions may forbid it. Fix that, or use --cache FILE elsewhere, or "
            "--no-cache.",
            path=str(path),
        )
    return _not_a_cache(path, f"is damaged ({exc})")


class RequestCache:
    def __init__(self, path: str | Path, *, batch: int = 256, flush_every: float = 0.5) -> None:
        self.path = Path(path)
        _check_place(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _database_fault(self.path, exc) from None
        try:
            self._check_database()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise _database_fault(self.path, exc) from None
        except BaseException:
            self._db.close()
            raise
        self.batch = batch
        self.flush_every = flush_every
        self._pending: dict[str, Row] = {}
        self._last_flush = time.monotonic()
        try:
            self._log: IO[bytes] | None = self._open_log()
        except BaseException:
            self._db.close()
            raise
        self.hits = 0
        self.misses = 0

    def _check_database(self) -> None:
        """Refuse a damaged database, or another program's, before writing to it."""
        (verdict,) = self._db.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            raise _not_a_cache(self.path, f"is damaged (SQLite reports: {str(verdict)[:120]})")
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        tables = {t for t in tables if not str(t).startswith("sqlite_")}
        if tables - _OUR_TABLES:
            raise _not_a_cache(
                self.path, f"is another program's database (tables: {sorted(tables)[:5]})"
            )

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
        lines = handle.read().split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                key, backend, model, blob, created = orjson.loads(line)
                rows.append((str(key), str(backend), str(model), blob.encode(), float(created)))
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
                if number == len(lines):  # no newline after it: half-written by a killed process
                    continue
                handle.close()
                raise _not_a_cache(
                    self.log_path, f"is not a teachkit cache log (line {number} is not an entry)"
                ) from None
        if rows:
            log.info("recovering %d cached answers from %s", len(rows), self.log_path)
            self._write(rows)
        handle.truncate(0)
        return handle

    def _write(self, rows: list[Row]) -> None:
        try:
            self._db.execute("BEGIN")
            self._db.executemany(_INSERT, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise _database_fault(self.path, exc) from None

    def get(self, key: str) -> Response | None:
        pending = self._pending.get(key)
        if pending is not None:
            blob: bytes | None = pending[3]
        else:
            try:
                row = self._db.execute(
                    "SELECT response FROM responses WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise _database_fault(self.path, exc) from None
            blob = row[0] if row else None
        if blob is None:
            self.misses += 1
            return None
        try:
            data: dict[str, Any] = loads(blob)
            response = Response.from_dict(data, cached=True)
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("the cached answer %s in %s is unreadable; asking again", key, self.path)
            self.misses += 1
            return None
        self.hits += 1
        return response

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
