"""Append-only shards and the journal that makes them crash-safe.

Each session of a run names its pair of shards (``accepted/NNNNN.jsonl`` and
``rejected/NNNNN.jsonl``) in the journal, then creates them (they must not exist yet). A finished
job is committed in one step: its records are appended to the shards, then one journal line
records the job key, the shards' end offsets and what the job paid for. That line is the commit
point:

* a kill before it leaves shard bytes past the last committed offset; recovery cuts them and the
  job runs again (its answer comes from the request cache, so nothing is paid twice);
* a kill inside it leaves a half line that recovery drops, with the same effect.

Recovery cuts only shards the journal names as this run's; any other file is left alone and never
read. Committed bytes that are missing are an error, never silently dropped.

Root jobs are journalled before they are sent, follow-up jobs inside their parent's commit, so a
resumed run re-sends exactly the pending requests and no others.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from teachkit.errors import RunDirError
from teachkit.generators.base import Job
from teachkit.records import Record, Rejection
from teachkit.rundir.journal import (
    CommitEntry,
    EndEntry,
    JobEntry,
    Journal,
    SessionEntry,
    TeacherUsage,
    commit_line,
    end_line,
    job_line,
    read_journal,
    run_line,
    session_line,
)
from teachkit.rundir.layout import DirKind, RunDir, environment_errors
from teachkit.rundir.readers import (
    accepted_records,
    committed_lines,
    committed_shards,
    read_accepted,
    read_rejected,
    rejected_records,
    shard_file,
)

__all__ = [
    "Recovered",
    "Store",
    "committed_shards",
    "read_accepted",
    "read_rejected",
    "write_records",
]

log = logging.getLogger("teachkit")


@dataclass
class Recovered:
    """What a run directory holds, in commit order."""

    journal: Journal
    #: every job created (root and follow-up), once each, in creation order
    jobs: list[JobEntry] = field(default_factory=list)
    committed: set[str] = field(default_factory=set)
    accepted: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    #: keys of jobs created as follow-ups of another job (the rest are root jobs)
    followups: set[str] = field(default_factory=set)
    commits: list[CommitEntry] = field(default_factory=list)
    next_shard: int = 1
    next_session: int = 1

    @property
    def pending(self) -> list[JobEntry]:
        return [entry for entry in self.jobs if entry.job.key not in self.committed]


def _numbered(folder: Path) -> list[int]:
    try:
        return [int(p.stem) for p in folder.glob("*.jsonl") if p.stem.isdigit()]
    except OSError:
        return []


class Store:
    def __init__(self, rundir: RunDir, *, fsync: bool = False) -> None:
        self.rundir = rundir
        self.fsync = fsync
        self._acc: IO[bytes] | None = None
        self._rej: IO[bytes] | None = None
        self._journal: IO[bytes] | None = None
        self.shard = ""
        self.session = 0
        self._acc_end = 0
        self._rej_end = 0

    # --- the first line ---------------------------------------------------------------------
    def initialize(
        self, identity: dict[str, Any], version: str | None, *, own_cache: bool = False
    ) -> None:
        """Make the directory a run directory: the journal, holding only its ``run`` line.
        Written to a side file and linked into place, so it appears whole or not at all."""
        path = self.rundir.journal_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with environment_errors(path):
            with open(tmp, "wb") as fh:
                fh.write(run_line(identity, created, version, own_cache=own_cache))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if a journal appeared meanwhile
            except FileExistsError:
                raise RunDirError(
                    f"{path} appeared while the run started; another program writes into "
                    f"{self.rundir.path}. Stop it and run again.",
                    path=str(path),
                ) from None
            except OSError:  # a file system without hard links: create it exclusively
                with open(path, "xb") as fh:
                    fh.write(tmp.read_bytes())
            finally:
                os.unlink(tmp)

    def append_identity(self, identity: dict[str, Any], version: str | None) -> None:
        """Give a format-1 journal its identity line (appended: the journal stays append-only)."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        path = self.rundir.journal_path
        with environment_errors(path), open(path, "ab") as fh:
            fh.write(run_line(identity, created, version))

    # --- recovery ---------------------------------------------------------------------------
    def recover(self) -> Recovered:
        """Cut what was written after the last commit of this run's own files, and load what
        was committed. Call with the run directory locked."""
        rundir = self.rundir
        journal = read_journal(rundir.journal_path)
        if journal.valid < journal.size:
            if not journal.entries:
                raise RunDirError(
                    f"{rundir.journal_path} holds no teachkit journal entry, so {rundir.path} is "
                    "not a run directory teachkit made; nothing was changed. Choose another --out.",
                    path=str(rundir.path),
                )
            log.warning("dropping a half-written journal line (the last run was killed)")
            with environment_errors(rundir.journal_path):
                os.truncate(rundir.journal_path, journal.valid)
            journal.size = journal.valid
        for name, (acc_end, rej_end) in committed_shards(journal).items():
            for kind, end in (("accepted", acc_end), ("rejected", rej_end)):
                self._cut(shard_file(rundir, kind, name), end, kind)
        state = Recovered(journal)
        seen: set[str] = set()
        for entry in journal.jobs():
            if entry.job.key in seen:
                continue
            seen.add(entry.job.key)
            state.jobs.append(entry)
            if entry.followup:
                state.followups.add(entry.job.key)
        state.commits = journal.commits
        state.committed = {commit.key for commit in state.commits}
        state.accepted = list(accepted_records(rundir, journal))
        state.rejected = list(rejected_records(rundir, journal))
        numbers = _numbered(rundir.accepted_dir) + _numbered(rundir.rejected_dir)
        numbers += [int(n) for n in committed_shards(journal) if n.isdigit()]
        state.next_shard = max(numbers, default=0) + 1
        state.next_session = max((s.session for s in journal.sessions), default=0) + 1
        return state

    @staticmethod
    def _cut(path: Path, end: int, kind: str) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < end:
            list(committed_lines(path, end, kind))  # raises with the explanation
        if size > end:
            if not path.is_file():
                raise RunDirError(f"{path} is not a regular file; move it away.", path=str(path))
            log.warning("cutting uncommitted records from %s", path)
            with environment_errors(path):
                os.truncate(path, end)

    # --- writing ----------------------------------------------------------------------------
    def open(self, state: Recovered, count: int) -> None:
        """Start a session: name its shards in the journal, then create them."""
        rundir = self.rundir
        rundir.create()
        self.session = state.next_session
        self.shard = f"{state.next_shard:05d}"
        files = [f"accepted/{self.shard}.jsonl", f"rejected/{self.shard}.jsonl"]
        with environment_errors(rundir.journal_path):
            self._journal = open(rundir.journal_path, "ab")  # noqa: SIM115
            entry = SessionEntry(self.session, self.shard, count, time.time(), files)
            self._journal.write(session_line(entry))
            self._journal.flush()
        try:
            with environment_errors(rundir.path):
                self._acc = open(rundir.path / files[0], "xb")  # noqa: SIM115
                self._rej = open(rundir.path / files[1], "xb")  # noqa: SIM115
        except FileExistsError as exc:
            raise RunDirError(
                f"{exc.filename} appeared while the run started; another program writes into "
                f"{rundir.path}. Stop it and run again.",
                path=str(exc.filename),
            ) from exc
        self._acc_end = self._rej_end = 0

    def _writer(self) -> IO[bytes]:
        if self._journal is None:
            raise RunDirError("The run directory was closed while the run was still writing.")
        return self._journal

    def add_jobs(self, jobs: list[Job], *, cached: bool = False) -> None:
        """Journal root jobs before they are sent."""
        journal = self._writer()
        journal.write(b"".join(job_line(job, cached=cached) for job in jobs))
        journal.flush()

    def commit(
        self,
        job: Job,
        accepted: list[Record],
        rejected: list[Rejection],
        *,
        stage: str,
        teacher: str,
        ok: bool,
        usage: dict[str, TeacherUsage],
        followups: list[JobEntry],
    ) -> CommitEntry:
        """Append the job's records, then its commit line (the commit point)."""
        journal = self._writer()
        acc, rej = self._acc, self._rej
        assert acc is not None and rej is not None  # open() made them with the journal
        if accepted:
            acc.write(b"".join(r.to_json() + b"\n" for r in accepted))
            acc.flush()
            self._acc_end = acc.tell()
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
            rej.write(b"".join(lines))
            rej.flush()
            self._rej_end = rej.tell()
        if self.fsync:
            os.fsync(acc.fileno())
            os.fsync(rej.fileno())
        entry = CommitEntry(
            key=job.key,
            shard=self.shard,
            accepted_end=self._acc_end,
            rejected_end=self._rej_end,
            stage=stage,
            teacher=teacher,
            ok=ok,
            accepted=len(accepted),
            rejected=len(rejected),
            usage=usage,
            followups=followups,
        )
        journal.write(commit_line(entry))
        journal.flush()
        if self.fsync:
            os.fsync(journal.fileno())
        return entry

    def end(self, status: str, message: str, accepted: int) -> None:
        """Say how the session ended (a session without this line was killed)."""
        if self._journal is None:
            return
        self._journal.write(end_line(EndEntry(self.session, status, message, accepted)))
        self._journal.flush()
        if self.fsync:
            os.fsync(self._journal.fileno())

    def close(self) -> None:
        for handle in (self._acc, self._rej, self._journal):
            if handle is not None:
                handle.close()
        self._acc = self._rej = self._journal = None


def write_records(
    run_dir: str | Path,
    batches: list[list[Record]],
    *,
    identity: dict[str, Any] | None = None,
) -> Path:
    """Make a new run directory that holds ``batches`` of accepted records, one session and
    one committed job per batch (for tests and for importing records made elsewhere)."""
    rundir = RunDir(run_dir)
    if rundir.kind() is not DirKind.ABSENT and rundir.kind() is not DirKind.EMPTY:
        raise RunDirError(f"{rundir.path} is not empty; write records into a new directory.")
    rundir.create()
    store = Store(rundir)
    store.initialize(identity or {"recipe_hash": "imported", "mode": "import"}, None)
    for number, batch in enumerate(batches):
        state = store.recover()
        store.open(state, len(batch))
        job = Job(key=f"import:{number:06d}", stage="import")
        store.add_jobs([job])
        store.commit(job, batch, [], stage="import", teacher="", ok=True, usage={}, followups=[])
        store.end("complete", f"{len(batch)} records imported.", len(batch))
        store.close()
    return rundir.path
