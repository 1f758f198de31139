"""Reading what a run directory committed: only the shards the journal names, only up to
their committed offsets. Read-only: safe beside a running run; damage is an error that says how
to recover, never records silently dropped or invented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import RunDirError
from teachkit.records import Record, Rejection
from teachkit.rundir.journal import CommitEntry, Journal, SessionEntry, read_journal
from teachkit.rundir.layout import RunDir

__all__ = [
    "accepted_records",
    "committed_lines",
    "committed_shards",
    "read_accepted",
    "read_rejected",
    "rejected_records",
    "shard_file",
]


def committed_shards(journal: Journal) -> dict[str, tuple[int, int]]:
    """Shard name -> (accepted end, rejected end) committed, for every shard the journal says
    this run made (format 2: named by a session; format 1: named by a commit)."""
    shards: dict[str, tuple[int, int]] = {}
    for entry in journal.entries:
        if isinstance(entry, SessionEntry):
            shards.setdefault(entry.shard, (0, 0))
        elif isinstance(entry, CommitEntry):
            shards[entry.shard] = (entry.accepted_end, entry.rejected_end)
    return shards


def shard_file(rundir: RunDir, kind: str, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise RunDirError(
            f"{rundir.journal_path} names a shard {name!r} that is not a file name; the journal "
            "was edited. Restore it from a backup, or start a fresh run directory.",
            path=str(rundir.journal_path),
        )
    return rundir.path / kind / f"{name}.jsonl"


def committed_lines(path: Path, end: int, kind: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the committed bytes of a shard; missing bytes are an error."""
    if end == 0:
        return
    try:
        with open(path, "rb") as fh:
            data = fh.read(end)
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise RunDirError(
            f"Cannot read {path} ({exc.strerror or exc}); the run directory is damaged.",
            path=str(path),
        ) from exc
    if len(data) < end or not data.endswith(b"\n"):
        raise RunDirError(
            f"{path} holds {len(data)} bytes but the journal committed {end} bytes of {kind} "
            "records to it: the file was truncated, replaced or deleted, and committed records "
            "are lost. Restore it from a backup; or, to keep only what is intact, export what "
            "you need and start a fresh run directory.",
            path=str(path),
        )
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield number, line


def _damaged(path: Path, number: int, exc: Exception) -> RunDirError:
    return RunDirError(
        f"{path}, line {number}, is damaged ({exc}); it was edited by something other than "
        "teachkit. Restore the file from a backup, or start a fresh run directory.",
        path=str(path),
        line=number,
    )


def accepted_records(rundir: RunDir, journal: Journal) -> Iterator[Record]:
    for name, (end, _rejected_end) in sorted(committed_shards(journal).items()):
        path = shard_file(rundir, "accepted", name)
        for number, line in committed_lines(path, end, "accepted"):
            try:
                record = Record.from_json(line)
            except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError) as e:
                raise _damaged(path, number, e) from None
            yield record


def _rejection(data: Any) -> Rejection:
    if not isinstance(data, dict) or not isinstance(data.get("record"), dict):
        raise TypeError("a rejected line must be an object with a 'record'")
    detail = data.get("detail") or {}
    return Rejection(
        Record.from_dict(data["record"]),
        str(data["filter"]),
        str(data["reason"]),
        detail if isinstance(detail, dict) else {"detail": detail},
    )


def rejected_records(rundir: RunDir, journal: Journal) -> Iterator[Rejection]:
    for name, (_accepted_end, end) in sorted(committed_shards(journal).items()):
        path = shard_file(rundir, "rejected", name)
        for number, line in committed_lines(path, end, "rejected"):
            try:
                rejection = _rejection(orjson.loads(line))
            except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError) as e:
                raise _damaged(path, number, e) from None
            yield rejection


def _journal_of(run_dir: str | Path) -> tuple[RunDir, Journal]:
    rundir = RunDir(run_dir)
    if not rundir.journal_path.is_file():
        raise RunDirError(
            f"{rundir.path} is not a teachkit run directory: it holds no journal.jsonl.",
            path=str(rundir.path),
        )
    return rundir, read_journal(rundir.journal_path)


def read_accepted(run_dir: str | Path) -> Iterator[Record]:
    """Every committed accepted record of a run directory, in commit order (read-only: a run
    going on meanwhile is not disturbed)."""
    rundir, journal = _journal_of(run_dir)
    yield from accepted_records(rundir, journal)


def read_rejected(run_dir: str | Path) -> Iterator[Rejection]:
    """Every committed rejected record, with the filter and reason that dropped it."""
    rundir, journal = _journal_of(run_dir)
    yield from rejected_records(rundir, journal)
