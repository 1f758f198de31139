"""Running the recipe's verifier on a problem's traces from the generator's synchronous hooks.

The engine calls :meth:`Generator.on_response` synchronously on its event loop, and a problem's
pass rate must be known before its traces are committed, so the verifier runs while the call
waits: on an event loop of its own, in a daemon thread, where the verifier is started on first use
and closed when the generator is collected (or the interpreter exits). The verifiers do their work
in worker processes or the sandbox, so the engine's loop only waits for the answers; requests
already sent keep going to the teacher meanwhile. The traces of one problem are checked
concurrently. :meth:`TraceChecker.start` (called when the run opens) starts the verifier's
workers in the background, so they are warm when the first problem completes.

A verifier error about the setup (a missing extra, no sandbox: a
:class:`~teachkit.errors.TeachkitError`) stops the run; any other exception becomes a
``verifier_error`` verdict for that trace and is logged, as in the ``verify`` filter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from teachkit.errors import TeachkitError
from teachkit.records import Record
from teachkit.verifiers.base import Verdict, Verifier

__all__ = ["TraceChecker"]

log = logging.getLogger("teachkit")

T = TypeVar("T")


class _Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="teachkit-reasoning-verify", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def _shutdown(state: dict[str, Any]) -> None:
    """Close the verifier on its loop, then stop the loop (a weakref finalizer: no self)."""
    loop: _Loop | None = state.pop("loop", None)
    if loop is None:
        return
    verifier: Verifier = state["verifier"]
    try:
        if state.get("started"):
            loop.run(asyncio.wait_for(verifier.aclose(), 30))
    except Exception:  # closing must never raise out of a finalizer
        log.debug("closing the %s verifier failed", verifier.kind, exc_info=True)
    loop.loop.call_soon_threadsafe(loop.loop.stop)
    loop.thread.join(10)
    if not loop.thread.is_alive():
        loop.loop.close()


class TraceChecker:
    """Verdicts for trace records, computed by ``verifier`` off the caller's event loop."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self._state: dict[str, Any] = {"verifier": verifier, "started": False}
        self._finalizer = weakref.finalize(self, _shutdown, self._state)

    @property
    def kind(self) -> str:
        return self.verifier.kind

    def start(self) -> None:
        """Start the verifier in the background, so that its workers warm up (import their
        libraries, fork the sandbox) while the first answers are on their way."""
        if "starting" in self._state:
            return
        loop = self._state["loop"] = _Loop()
        self._state["starting"] = asyncio.run_coroutine_threadsafe(self._start(), loop.loop)

    async def _start(self) -> None:
        await self.verifier.start()
        self._state["started"] = True

    def verify(self, records: Sequence[Record]) -> list[Verdict]:
        """One verdict per record, in order; blocks until all are in."""
        if not records:
            return []
        self.start()
        result: list[Verdict] = self._state["loop"].run(self._verify(list(records)))
        return result

    async def verify_async(self, records: Sequence[Record]) -> list[Verdict]:
        """:meth:`verify` for a caller on another event loop: awaits without blocking it."""
        if not records:
            return []
        self.start()
        loop: _Loop = self._state["loop"]
        future = asyncio.run_coroutine_threadsafe(self._verify(list(records)), loop.loop)
        return await asyncio.wrap_future(future)

    async def _verify(self, records: list[Record]) -> list[Verdict]:
        await asyncio.wrap_future(self._state["starting"])  # raises what start() raised
        return list(await asyncio.gather(*(self._one(r) for r in records)))

    async def _one(self, record: Record) -> Verdict:
        try:
            return await self.verifier.verify(record)
        except TeachkitError:
            raise  # the setup is wrong: every later trace would fail the same way
        except Exception as exc:
            log.warning("verifier %s failed on a trace", self.verifier.kind, exc_info=True)
            return Verdict(False, "verifier_error", f"{type(exc).__name__}: {exc}")

    def describe(self) -> dict[str, Any]:
        return self.verifier.describe()

    def close(self) -> None:
        """Stop the verifier and its thread now (also done when the checker is collected)."""
        self._finalizer()
