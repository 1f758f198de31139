"""The journal: one JSON line per event, appended; the commit point of a run.

Format 2 (written now) names every field::

    {"type": "run", "format": 2, "identity": {...}, "created": "...", "teachkit": "...",
     "own_cache": true}
    {"type": "session", "session": 3, "shard": "00003", "count": 40, "started": 1.7e9,
     "files": ["accepted/00003.jsonl", "rejected/00003.jsonl"]}
    {"type": "job", "job": {...}, "cached": true}
    {"type": "commit", "key": "gen:000007", "shard": "00003", "accepted_end": 5120,
     "rejected_end": 0, "accepted": 1, "rejected": 0, "stage": "generate", "teacher": "teacher",
     "ok": true, "usage": {"teacher": {"requests": 1, "prompt_tokens": 40, ...}},
     "followups": [{"job": {...}, "cached": false}]}
    {"type": "end", "session": 3, "status": "complete", "message": "...", "accepted": 40}

* ``run`` comes first: it marks the directory as a run directory and holds the run's identity;
* ``session`` names the shard files of a session before they are created, so recovery only ever
  cuts files the journal says this run made;
* ``job`` is written before a root job is sent (``cached``: its answer was already in the
  request cache, so it is not this run's expense); follow-up jobs ride inside their parent's
  ``commit``, so one line commits a job and creates its follow-ups;
* ``commit`` says where the job's records end in its shards and what the job paid for
  (``usage`` per teacher): the journal is the ledger of the run's spend;
* ``end`` says how a session ended; a session without one was killed.

Format 1 (written before) used short keys: ``{"t": "j", "job": ..., "f": 1}`` and ``{"t": "c",
"k", "s", "a", "r", "st", "tm", "pt", "ct", "c", "ok"}``. It is read, never written: a resumed
format-1 directory gets format-2 lines appended.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import RunDirError
from teachkit.generators.base import Job

__all__ = [
    "FORMAT",
    "CommitEntry",
    "EndEntry",
    "JobEntry",
    "Journal",
    "RunEntry",
    "SessionEntry",
    "TeacherUsage",
    "commit_line",
    "end_line",
    "job_line",
    "read_journal",
    "run_line",
    "session_line",
]

#: the journal format this version writes
FORMAT = 2

_USAGE_KEYS = ("requests", "cached", "failed", "prompt_tokens", "completion_tokens")


@dataclass(slots=True)
class TeacherUsage:
    """What one teacher did for a job (or a run): ``requests`` answers paid for, ``cached``
    answers that cost nothing, ``failed`` requests, and the tokens of the paid answers."""

    requests: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: TeacherUsage) -> None:
        self.requests += other.requests
        self.cached += other.cached
        self.failed += other.failed
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    def subtract(self, other: TeacherUsage) -> None:
        self.requests -= other.requests
        self.cached -= other.cached
        self.failed -= other.failed
        self.prompt_tokens -= other.prompt_tokens
        self.completion_tokens -= other.completion_tokens

    def to_dict(self) -> dict[str, int]:
        """The non-zero counts (a paid answer: requests and tokens; a cached one: cached)."""
        out: dict[str, int] = {}
        if self.requests:
            out["requests"] = self.requests
        if self.cached:
            out["cached"] = self.cached
        if self.failed:
            out["failed"] = self.failed
        if self.prompt_tokens:
            out["prompt_tokens"] = self.prompt_tokens
        if self.completion_tokens:
            out["completion_tokens"] = self.completion_tokens
        return out

    @classmethod
    def from_dict(cls, data: Any) -> TeacherUsage:
        if not isinstance(data, dict):
            raise TypeError("usage is not a mapping")
        return cls(**{key: _int(data.get(key, 0)) for key in _USAGE_KEYS})


@dataclass(slots=True)
class RunEntry:
    identity: dict[str, Any]
    format: int = FORMAT
    created: str = ""
    #: the request cache in the run directory was made by this run: every answer in it was
    #: paid by this run (so a new job's answer cannot be there already)
    own_cache: bool = False


@dataclass(slots=True)
class SessionEntry:
    session: int
    shard: str
    count: int
    started: float = 0.0
    files: list[str] = field(default_factory=list)


@dataclass(slots=True)
class JobEntry:
    job: Job
    #: created inside a parent's commit (a follow-up), not as a root job
    followup: bool = False
    #: the answer was in the request cache when the job was created (not this run's expense);
    #: None when unknown (format 1)
    cached: bool | None = None


@dataclass(slots=True)
class CommitEntry:
    key: str
    shard: str
    accepted_end: int
    rejected_end: int
    stage: str = "generate"
    teacher: str = "teacher"
    ok: bool = True
    #: records this commit added; None when unknown (format 1: count the shard lines)
    accepted: int | None = None
    rejected: int | None = None
    usage: dict[str, TeacherUsage] = field(default_factory=dict)
    followups: list[JobEntry] = field(default_factory=list)


@dataclass(slots=True)
class EndEntry:
    session: int
    status: str
    message: str = ""
    accepted: int = 0


Entry = RunEntry | SessionEntry | JobEntry | CommitEntry | EndEntry


@dataclass
class Journal:
    """A parsed journal: its entries in order, and the byte length of its valid prefix."""

    path: Path
    entries: list[Entry] = field(default_factory=list)
    #: bytes of complete lines; what lies beyond is a half line left by a kill
    valid: int = 0
    size: int = 0
    #: 1 when the journal starts with format-1 lines, else 2 (0: empty)
    format: int = 0

    @property
    def run(self) -> RunEntry | None:
        return next((e for e in self.entries if isinstance(e, RunEntry)), None)

    @property
    def sessions(self) -> list[SessionEntry]:
        return [e for e in self.entries if isinstance(e, SessionEntry)]

    @property
    def commits(self) -> list[CommitEntry]:
        return [e for e in self.entries if isinstance(e, CommitEntry)]

    def jobs(self) -> Iterator[JobEntry]:
        """Every job created, root and follow-up, in creation order."""
        for entry in self.entries:
            if isinstance(entry, JobEntry):
                yield entry
            elif isinstance(entry, CommitEntry):
                yield from entry.followups

    def last_end(self) -> EndEntry | None:
        """The end of the last session, or None when the last session has none (killed)."""
        for entry in reversed(self.entries):
            if isinstance(entry, EndEntry):
                return entry
            if isinstance(entry, SessionEntry):
                return None
        return None


# --- writing ------------------------------------------------------------------------------------
def _line(entry: dict[str, Any]) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


def run_line(
    identity: dict[str, Any], created: str, version: str | None, *, own_cache: bool = False
) -> bytes:
    return _line(
        {
            "type": "run",
            "format": FORMAT,
            "identity": identity,
            "created": created,
            "teachkit": version,
            "own_cache": own_cache,
        }
    )


def session_line(session: SessionEntry) -> bytes:
    return _line(
        {
            "type": "session",
            "session": session.session,
            "shard": session.shard,
            "count": session.count,
            "started": session.started,
            "files": session.files,
        }
    )


def job_line(job: Job, *, cached: bool) -> bytes:
    return _line({"type": "job", "job": job.to_dict(), "cached": cached})


def commit_line(commit: CommitEntry) -> bytes:
    entry: dict[str, Any] = {
        "type": "commit",
        "key": commit.key,
        "shard": commit.shard,
        "accepted_end": commit.accepted_end,
        "rejected_end": commit.rejected_end,
        "accepted": commit.accepted or 0,
        "rejected": commit.rejected or 0,
        "stage": commit.stage,
        "teacher": commit.teacher,
        "ok": commit.ok,
    }
    if commit.usage:
        entry["usage"] = {name: u.to_dict() for name, u in commit.usage.items()}
    if commit.followups:
        entry["followups"] = [
            {"job": f.job.to_dict(), "cached": bool(f.cached)} for f in commit.followups
        ]
    return _line(entry)


def end_line(end: EndEntry) -> bytes:
    return _line(
        {
            "type": "end",
            "session": end.session,
            "status": end.status,
            "message": end.message,
            "accepted": end.accepted,
        }
    )


# --- reading ------------------------------------------------------------------------------------
def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a non-negative integer, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _job(data: Any) -> Job:
    if not isinstance(data, dict):
        raise TypeError("job is not a mapping")
    job = Job.from_dict(data)
    if not isinstance(job.context, dict):
        raise TypeError("job context is not a mapping")
    return job


def _v2(data: dict[str, Any]) -> Entry:
    kind = data["type"]
    if kind == "run":
        identity = data["identity"]
        if not isinstance(identity, dict):
            raise TypeError("identity is not a mapping")
        return RunEntry(
            identity,
            _int(data.get("format", FORMAT)),
            str(data.get("created", "")),
            data.get("own_cache") is True,
        )
    if kind == "session":
        files = data.get("files") or []
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError("files is not a list of names")
        started = data.get("started", 0.0)
        return SessionEntry(
            _int(data["session"]),
            _str(data["shard"]),
            _int(data.get("count", 0)),
            float(started) if isinstance(started, int | float) else 0.0,
            list(files),
        )
    if kind == "job":
        return JobEntry(_job(data["job"]), False, bool(data.get("cached", False)))
    if kind == "commit":
        usage = data.get("usage") or {}
        followups = data.get("followups") or []
        if not isinstance(usage, dict) or not isinstance(followups, list):
            raise TypeError("usage or followups has the wrong shape")
        return CommitEntry(
            key=_str(data["key"]),
            shard=_str(data["shard"]),
            accepted_end=_int(data["accepted_end"]),
            rejected_end=_int(data["rejected_end"]),
            stage=_str(data.get("stage", "generate")),
            teacher=_str(data.get("teacher", "teacher")),
            ok=bool(data.get("ok", True)),
            accepted=_int(data.get("accepted", 0)),
            rejected=_int(data.get("rejected", 0)),
            usage={_str(k): TeacherUsage.from_dict(v) for k, v in usage.items()},
            followups=[
                JobEntry(_job(f["job"]), True, bool(f.get("cached", False)))
                if isinstance(f, dict)
                else _bad("a follow-up is not a mapping")
                for f in followups
            ],
        )
    if kind == "end":
        return EndEntry(
            _int(data["session"]),
            _str(data["status"]),
            str(data.get("message", "")),
            _int(data.get("accepted", 0)),
        )
    raise TypeError(f"unknown entry type {kind!r}")


def _bad(message: str) -> Any:
    raise TypeError(message)


def _v1(data: dict[str, Any]) -> Entry:
    """A format-1 line, as its format-2 meaning."""
    if data["t"] == "j":
        return JobEntry(_job(data["job"]), followup=bool(data.get("f")), cached=None)
    if data["t"] == "c":
        teacher = str(data.get("tm", "teacher"))
        ok = bool(data.get("ok", 1))
        cached = bool(data.get("c", 0))
        if not ok:
            usage = TeacherUsage(failed=1)
        elif cached:
            usage = TeacherUsage(cached=1)
        else:
            usage = TeacherUsage(
                requests=1,
                prompt_tokens=_int(data.get("pt", 0)),
                completion_tokens=_int(data.get("ct", 0)),
            )
        stage = str(data.get("st", "generate"))
        return CommitEntry(
            key=_str(data["k"]),
            shard=_str(data["s"]),
            accepted_end=_int(data["a"]),
            rejected_end=_int(data["r"]),
            stage=stage,
            teacher=teacher,
            ok=ok,
            # format-1 curation commits marked every row as a cached teacher answer
            usage={} if stage == "filter" else {teacher: usage},
        )
    raise TypeError(f"unknown entry type {data['t']!r}")


def parse_entry(line: bytes) -> tuple[Entry, int]:
    """One journal line as an entry, and the format it was written in."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise TypeError("a journal line must be a JSON object")
    if "type" in data:
        return _v2(data), 2
    if "t" in data:
        return _v1(data), 1
    raise TypeError("a journal line needs a 'type'")


def read_journal(path: Path) -> Journal:
    """Parse ``path``. A half line at the end (a kill in the middle of a write) is left out and
    reported through :attr:`Journal.valid`; anything else that does not parse is damage."""
    journal = Journal(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return journal
    except IsADirectoryError:
        raise RunDirError(
            f"{path} is a directory, not a journal file; this is not a run directory teachkit "
            "can use. Choose another --out.",
            path=str(path),
        ) from None
    journal.size = len(data)
    position = 0
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        position += len(line) + 1
        if not line.strip():
            journal.valid = position
            continue
        try:
            entry, version = parse_entry(line)
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise RunDirError(
                f"{path}, line {number}, is damaged ({exc}): it was edited or written by "
                "something other than teachkit, so the run cannot be trusted to resume. Restore "
                "the journal from a backup, or start a fresh run directory (another --out).",
                path=str(path),
                line=number,
            ) from None
        if not journal.entries:
            journal.format = version
        journal.entries.append(entry)
        journal.valid = position
    return journal
