"""A scriptable teacher that runs in the test's own process: no server, no model, no network.

Use it to test a recipe or a plugin (a generator, a filter, a format) end to end::

    from teachkit.testing import ScriptedBackend

    ScriptedBackend.use(lambda request: "Paris." if "France" in last_text(request) else "No idea.")
    summary = teachkit.run(parse_recipe({"teacher": {"backend": "scripted"}, ...}), tmp_path)
    assert len(ScriptedBackend.calls) == summary.requested

:meth:`ScriptedBackend.use` registers the backend (``backend: scripted``) in this process, sets
the script and clears the recorded calls. A script returns the answer text, or an exception to
raise (e.g. a :class:`~teachkit.errors.RetryableError` to test retries). The default script,
:func:`echo_answer`, gives a distinct deterministic answer per prompt and sample. The backend is
registered in-process only: a ``teachkit`` command started in another process does not see it
(use :class:`~teachkit.testing.FakeServerProcess` there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import ClassVar

from teachkit.teachers.backend import Backend, Capabilities, Request, Response, Usage
from teachkit.teachers.registry import register_backend

__all__ = ["Script", "ScriptedBackend", "echo_answer", "last_text"]

#: what a scripted teacher answers: the text, or an exception to raise
Script = Callable[[Request], str | Exception]


def last_text(request: Request) -> str:
    """The raw prompt, or the content of the last message of a chat request."""
    if request.prompt is not None:
        return request.prompt
    return (request.messages or [{"content": ""}])[-1]["content"]


def echo_answer(request: Request) -> str:
    """A distinct, deterministic answer per prompt and sample."""
    digest = hashlib.sha256(f"{last_text(request)}|{request.sample}".encode()).hexdigest()[:12]
    return f"Answer {digest}: a clear explanation with several plain words for the student."


class ScriptedBackend(Backend):
    """Answers with ``ScriptedBackend.script(request)``; records every request in ``calls``."""

    id = "scripted"
    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, completion=True, json_schema=False, n=False
    )
    default_model = "scripted-1"
    script: ClassVar[Script] = staticmethod(echo_answer)
    calls: ClassVar[list[Request]] = []

    @classmethod
    def use(cls, script: Script | None = None) -> type[ScriptedBackend]:
        """Register the backend in this process, answer with ``script`` (default:
        :func:`echo_answer`) and forget the recorded calls; returns the class."""
        register_backend(cls)
        cls.script = staticmethod(script or echo_answer)
        cls.calls = []
        return cls

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
