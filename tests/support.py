"""Test support: a scripted in-process backend and paths to the shared real data."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import orjson

from teachkit.errors import RetryableError
from teachkit.teachers.backend import Backend, Capabilities, Request, Response, Usage
from teachkit.teachers.registry import register_backend

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def last_text(request: Request) -> str:
    if request.prompt is not None:
        return request.prompt
    return (request.messages or [{"content": ""}])[-1]["content"]


def echo_answer(request: Request) -> str:
    """A distinct, deterministic answer per prompt and sample."""
    digest = hashlib.sha256(f"{last_text(request)}|{request.sample}".encode()).hexdigest()[:12]
    return f"Answer {digest}: a clear explanation with several plain words for the student."


class ScriptedBackend(Backend):
    """Answers with ``ScriptedBackend.script(request)``; counts calls per cache-relevant request."""

    id = "scripted"
    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, completion=True, json_schema=False, n=False
    )
    default_model = "scripted-1"
    script: ClassVar[Callable[[Request], str | Exception]] = staticmethod(echo_answer)
    calls: ClassVar[list[Request]] = []

    async def generate(self, request: Request) -> Response:
        ScriptedBackend.calls.append(request)
        answer = type(self).script(request)
        if isinstance(answer, Exception):
            raise answer
        return Response(
            texts=[answer],
            finish_reasons=["stop"],
            usage=Usage(len(last_text(request).split()), len(answer.split())),
            model=self.model,
        )


register_backend(ScriptedBackend)


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
