"""Where a run stands, read from the journal (the truth) and the lock (is a process at it?).

:func:`run_state` never writes: it is safe beside a running run and on a damaged directory,
where it raises :class:`RunDirError` with the way to recover.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.errors import RunDirError
from teachkit.rundir.journal import CommitEntry, Journal, TeacherUsage, read_journal
from teachkit.rundir.layout import RunDir
from teachkit.rundir.readers import committed_shards, read_accepted, read_rejected

__all__ = ["RunState", "RunStatus", "ledger", "run_state"]


class RunStatus(enum.StrEnum):
    """How a run (or the session that last worked on it) ended; the values are the strings the
    manifest and ``RunSummary.status`` carry."""

    #: every record asked for is committed
    COMPLETE = "complete"
    #: nothing to do: the directory already held a complete run
    ALREADY_COMPLETE = "already_complete"
    #: stopped at run.max_requests with fewer records (most answers were rejected)
    INCOMPLETE = "incomplete"
    #: the generator ran out of work (every prompt used) with fewer records
    EXHAUSTED = "exhausted"
    #: stopped cleanly by the budget or an open circuit; the run resumes
    STOPPED = "stopped"
    #: ended by an error
    FAILED = "failed"
    #: interrupted (Ctrl-C) or killed; the run resumes
    INTERRUPTED = "interrupted"
    #: a process is working on it now
    RUNNING = "running"

    @property
    def ok(self) -> bool:
        return self in (RunStatus.COMPLETE, RunStatus.ALREADY_COMPLETE)


def ledger(commits: list[CommitEntry]) -> dict[str, TeacherUsage]:
    """What each teacher did, summed over the committed jobs: the run's paid answers."""
    total: dict[str, TeacherUsage] = {}
    for commit in commits:
        for name, usage in commit.usage.items():
            total.setdefault(name, TeacherUsage()).add(usage)
    return total


@dataclass(frozen=True)
class RunState:
    """A run directory's state, from its journal and lock."""

    path: Path
    status: RunStatus
    #: a process holds the run directory's lock
    live: bool
    #: accepted records the last session asked for (None: unknown, format-1 journal)
    requested: int | None
    accepted: int
    rejected: int
    #: jobs created, and how many of them are committed
    jobs: int
    committed: int
    #: what the last session said when it ended ('' if it did not end)
    message: str
    #: sessions that worked on the run, and the journal's format (1: written before format 2)
    sessions: int
    format: int
    identity: dict[str, Any] | None
    usage: dict[str, TeacherUsage] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return self.jobs - self.committed

    @property
    def complete(self) -> bool:
        return self.status is RunStatus.COMPLETE


def _counts(rundir: RunDir, journal: Journal) -> tuple[int, int]:
    """(accepted, rejected) committed: from the commits, or the shard lines for format 1."""
    commits = journal.commits
    if all(c.accepted is not None and c.rejected is not None for c in commits):
        return (
            sum(c.accepted or 0 for c in commits),
            sum(c.rejected or 0 for c in commits),
        )
    return (
        sum(1 for _ in read_accepted(rundir.path)),
        sum(1 for _ in read_rejected(rundir.path)),
    )


def run_state(path: str | Path) -> RunState:
    """The state of the run directory at ``path``, from its journal (the truth) and its lock.

    A run whose last session has no end line and whose lock no process holds was killed: its
    status is ``interrupted`` whatever the manifest says.
    """
    rundir = RunDir(path)
    if not rundir.journal_path.is_file():
        raise RunDirError(
            f"{rundir.path} is not a teachkit run directory: it holds no manifest.json and no "
            "journal.jsonl.",
            path=str(rundir.path),
        )
    journal = read_journal(rundir.journal_path)
    live = rundir.is_live()
    accepted, rejected = _counts(rundir, journal)
    for name, (acc_end, rej_end) in committed_shards(journal).items():
        for kind, committed in (("accepted", acc_end), ("rejected", rej_end)):
            shard = rundir.path / kind / f"{name}.jsonl"
            try:
                size = shard.stat().st_size
            except OSError:
                size = 0
            if size < committed:
                raise RunDirError(
                    f"{shard} holds {size} bytes but the journal committed {committed}: committed "
                    "records are lost. Restore the file from a backup, or start a fresh run "
                    "directory.",
                    path=str(shard),
                )
    sessions = journal.sessions
    requested = sessions[-1].count if sessions else None
    end = journal.last_end()
    message = end.message if end is not None else ""
    if live:
        status = RunStatus.RUNNING
    elif end is not None:
        status = _status(end.status)
    elif journal.format == 1 and not sessions:
        status = _format1_status(rundir, accepted)
    else:
        status = RunStatus.INTERRUPTED
        message = "The last session was stopped before it finished; run again to resume."
    if status is RunStatus.ALREADY_COMPLETE:
        status = RunStatus.COMPLETE
    keys = {entry.job.key for entry in journal.jobs()}
    run = journal.run
    return RunState(
        path=rundir.path,
        status=status,
        live=live,
        requested=requested,
        accepted=accepted,
        rejected=rejected,
        jobs=len(keys),
        committed=len({c.key for c in journal.commits}),
        message=message,
        sessions=len(sessions),
        format=journal.format,
        identity=run.identity if run is not None else None,
        usage=ledger(journal.commits),
    )


def _status(value: str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        return RunStatus.INTERRUPTED


def _format1_status(rundir: RunDir, accepted: int) -> RunStatus:
    """A format-1 journal has no end lines: trust the manifest only where it agrees."""
    try:
        manifest = rundir.read_manifest() or {}
    except RunDirError:
        manifest = {}
    status = _status(str(manifest.get("status", "interrupted")))
    if status is RunStatus.RUNNING or manifest.get("accepted") != accepted:
        return RunStatus.INTERRUPTED
    return status
