"""Test support: a scripted in-process backend and paths to the shared real data."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from teachkit.errors import RetryableError
from teachkit.teachers.base import Backend, Capabilities, Request, Response, Usage
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
