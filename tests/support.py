"""Test support: the scripted in-process backend (from teachkit.testing, registered here) and
paths to the shared real data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import RetryableError
from teachkit.testing.scripted import ScriptedBackend, echo_answer, last_text

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

__all__ = [
    "REPO",
    "SHARED_DATA",
    "ScriptedBackend",
    "check_now",
    "echo_answer",
    "journal_commits",
    "last_text",
    "paid_answers",
    "shard_rows",
    "transient",
]


ScriptedBackend.use()


def transient(message: str = "busy") -> RetryableError:
    return RetryableError(message, status=503, retry_after=0.001)


# --- reading run directories in tests ------------------------------------------------------
_ANSWER = re.compile(r"answer job=(\S+) key=(\S+) cached=(\d)")


def shard_rows(run: Path, kind: str) -> list[dict[str, Any]]:
    """Every line of ``run/<kind>/*.jsonl`` (kind: accepted or rejected), parsed."""
    return [
        orjson.loads(line)
        for path in sorted((run / kind).glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        if line
    ]


def journal_commits(run: Path) -> int:
    """Commit lines in the run's journal (format 2, and format 1 written before it)."""
    journal = run / "journal.jsonl"
    if not journal.exists():
        return 0
    data = journal.read_bytes()
    return data.count(b'"type":"commit"') + data.count(b'"t":"c"')


def paid_answers(logs: list[Path]) -> dict[str, int]:
    """Request key -> session that paid for it, from ``teachkit --debug`` logs in order.
    Fails if an answer received (not from the cache) in one session is paid again later."""
    paid: dict[str, int] = {}
    for session, log in enumerate(logs):
        for _job, key, cached in _ANSWER.findall(log.read_text(errors="replace")):
            if cached == "0":
                assert key not in paid, f"{key} paid in session {paid[key]} and again in {session}"
                paid[key] = session
    return paid


def check_now(flt: Any, record: Any) -> Any:
    """``flt.check(record)`` for a filter that decides without waiting (rules, dedup, novelty):
    drives the coroutine by hand and fails if it awaits anything."""
    coro = flt.check(record)
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError(f"{type(flt).__name__}.check waited on something")
