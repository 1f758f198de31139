"""Append-only shards and the journal that makes them crash-safe.

Each session of a run writes its own pair of shards (``accepted/NNNNN.jsonl`` and
``rejected/NNNNN.jsonl``).
A finished job is committed in one step: its records are appended to the shards, then one journal
line records the job key and the shards' end offsets. That journal line is the commit point:

* a kill before it leaves shard bytes past the last committed offset; recovery truncates them and
  the job runs again (its answer comes from the request cache, so nothing is paid twice);
* a kill inside it leaves a half line that recovery drops, with the same effect.

Jobs are journalled when created (root jobs before they are sent, follow-up jobs inside their
parent's commit), so a resumed run re-sends exactly the pending requests and no others.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from teachkit.errors import RunDirError
from teachkit.generators.base import Job
from teachkit.records import Record, Rejection
from teachkit.rundir.layout import RunDir

__all__ = ["Recovered", "Store", "read_accepted", "read_rejected"]

log = logging.getLogger("teachkit")


@dataclass
class Recovered:
    jobs: list[Job] = field(default_factory=list)
    committed: set[str] = field(default_factory=set)
    accepted: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    #: keys of jobs created as follow-ups of another job (the rest are root jobs)
    followups: set[str] = field(default_factory=set)
    #: per-commit facts: stage, usage, cached
    commits: list[dict[str, Any]] = field(default_factory=list)
    next_shard: int = 1

    @property
    def pending(self) -> list[Job]:
        return [job for job in self.jobs if job.key not in self.committed]


def _read_lines(path: Path, limit: int | None = None) -> Iterator[bytes]:
    """Complete lines of ``path`` up to byte offset ``limit``."""
    with open(path, "rb") as fh:
        data = fh.read() if limit is None else fh.read(limit)
    for line in data.split(b"\n"):
        if line.strip():
            yield line


def _journal(rundir: RunDir) -> tuple[list[dict[str, Any]], int]:
    """Parsed journal entries and the byte length of the valid prefix."""
    path = rundir.journal_path
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    entries: list[dict[str, Any]] = []
    valid = 0
    position = 0
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is incomplete
        position += len(line) + 1
        if not line:
            valid = position
            continue
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise RunDirError(
                f"{path} is damaged inside (not at its end): {exc}. It was edited or written by "
                "something else; start a fresh run directory."
            ) from exc
        valid = position
    return entries, valid


def committed_offsets(entries: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Shard name -> (accepted end, rejected end) of the last commit that touched it."""
    offsets: dict[str, tuple[int, int]] = {}
    for entry in entries:
        if entry.get("t") == "c":
            offsets[entry["s"]] = (entry["a"], entry["r"])
    return offsets


def _shard_names(rundir: RunDir) -> list[str]:
    names = {p.stem for p in rundir.accepted_dir.glob("*.jsonl")}
    names |= {p.stem for p in rundir.rejected_dir.glob("*.jsonl")}
    return sorted(names)


def read_accepted(run_dir: str | Path) -> Iterator[Record]:
    """Every committed accepted record of a run directory, in commit order."""
    rundir = RunDir(run_dir)
    offsets = committed_offsets(_journal(rundir)[0])
    for name, (acc_end, _rej_end) in sorted(offsets.items()):
        path = rundir.accepted_dir / f"{name}.jsonl"
        if path.exists():
            for line in _read_lines(path, acc_end):
                yield Record.from_json(line)


def read_rejected(run_dir: str | Path) -> Iterator[Rejection]:
    """Every committed rejected record, with the filter and reason that dropped it."""
    rundir = RunDir(run_dir)
    offsets = committed_offsets(_journal(rundir)[0])
    for name, (_acc_end, rej_end) in sorted(offsets.items()):
        path = rundir.rejected_dir / f"{name}.jsonl"
        if path.exists():
            for line in _read_lines(path, rej_end):
                data = orjson.loads(line)
                yield Rejection(
                    Record.from_dict(data["record"]),
                    data["filter"],
                    data["reason"],
                    data.get("detail") or {},
                )


class Store:
    def __init__(self, rundir: RunDir, *, fsync: bool = False) -> None:
        self.rundir = rundir
        self.fsync = fsync
        self._acc: IO[bytes] | None = None
        self._rej: IO[bytes] | None = None
        self._journal: IO[bytes] | None = None
        self.shard = ""
        self._acc_end = 0
        self._rej_end = 0

    # --- recovery ---------------------------------------------------------------------------
    def recover(self) -> Recovered:
        """Cut everything written after the last commit and load what was committed."""
        rundir = self.rundir
        entries, valid = _journal(rundir)
        if rundir.journal_path.exists() and valid < rundir.journal_path.stat().st_size:
            log.warning("dropping a half-written journal line (the last run was killed)")
            os.truncate(rundir.journal_path, valid)
        offsets = committed_offsets(entries)
        for name in _shard_names(rundir):
            acc_end, rej_end = offsets.get(name, (0, 0))
            for path, end in (
                (rundir.accepted_dir / f"{name}.jsonl", acc_end),
                (rundir.rejected_dir / f"{name}.jsonl", rej_end),
            ):
                if path.exists() and path.stat().st_size > end:
                    log.warning("cutting uncommitted records from %s", path)
                    os.truncate(path, end)
        state = Recovered()
        seen: set[str] = set()
        for entry in entries:
            kind = entry.get("t")
            if kind == "j" and entry["job"]["key"] not in seen:
                seen.add(entry["job"]["key"])
                state.jobs.append(Job.from_dict(entry["job"]))
                if entry.get("f"):
                    state.followups.add(entry["job"]["key"])
            elif kind == "c":
                state.committed.add(entry["k"])
                state.commits.append(entry)
        state.accepted = list(read_accepted(rundir.path))
        state.rejected = list(read_rejected(rundir.path))
        numbers = [int(n) for n in _shard_names(rundir) if n.isdigit()]
        state.next_shard = max(numbers, default=0) + 1
        return state

    # --- writing ----------------------------------------------------------------------------
    def open(self, shard_number: int) -> None:
        self.shard = f"{shard_number:05d}"
        self._acc = open(self.rundir.accepted_dir / f"{self.shard}.jsonl", "ab")  # noqa: SIM115
        self._rej = open(self.rundir.rejected_dir / f"{self.shard}.jsonl", "ab")  # noqa: SIM115
        self._journal = open(self.rundir.journal_path, "ab")  # noqa: SIM115
        self._acc_end = self._acc.tell()
        self._rej_end = self._rej.tell()

    def add_jobs(self, jobs: list[Job]) -> None:
        """Journal jobs before they are sent."""
        assert self._journal is not None
        self._journal.write(b"".join(self._job_line(job) for job in jobs))
        self._journal.flush()

    @staticmethod
    def _job_line(job: Job, followup: bool = False) -> bytes:
        entry: dict[str, Any] = {"t": "j", "job": job.to_dict()}
        if followup:
            entry["f"] = 1
        return orjson.dumps(entry) + b"\n"

    def commit(
        self,
        job: Job,
        accepted: list[Record],
        rejected: list[Rejection],
        followups: list[Job],
        facts: dict[str, Any],
    ) -> None:
        """Append the job's records, then its commit line (the commit point)."""
        assert self._acc is not None and self._rej is not None and self._journal is not None
        if accepted:
            self._acc.write(b"".join(r.to_json() + b"\n" for r in accepted))
            self._acc.flush()
            self._acc_end = self._acc.tell()
        if rejected:
            lines = [
                orjson.dumps(
                    {
                        "record": r.record.to_dict(),
                        "filter": r.filter,
                        "reason": r.reason,
                        "detail": r.detail,
                    },
                    option=orjson.OPT_SERIALIZE_NUMPY,
                )
                + b"\n"
                for r in rejected
            ]
            self._rej.write(b"".join(lines))
            self._rej.flush()
            self._rej_end = self._rej.tell()
        if self.fsync:
            os.fsync(self._acc.fileno())
            os.fsync(self._rej.fileno())
        commit = {"t": "c", "k": job.key, "s": self.shard, "a": self._acc_end, "r": self._rej_end}
        commit.update(facts)
        payload = (
            b"".join(self._job_line(j, followup=True) for j in followups)
            + orjson.dumps(commit)
            + b"\n"
        )
        self._journal.write(payload)
        self._journal.flush()
        if self.fsync:
            os.fsync(self._journal.fileno())

    def close(self) -> None:
        for handle in (self._acc, self._rej, self._journal):
            if handle is not None:
                handle.close()
        self._acc = self._rej = self._journal = None
