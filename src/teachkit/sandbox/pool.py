"""The warm worker pool: sandboxed zygotes that fork one child per program, off the event loop.

::

    async with SandboxPool(size=2) as pool:
        result = await pool.run(Program("print(6 * 7)"), Limits(wall=5))
        result.stdout  # b"42\\n"

Workers start lazily (the first :meth:`SandboxPool.run` starts one per concurrent program, up to
``size``) and are replaced after a program that hit a limit, was killed, left processes behind,
wrote forged report frames or overflowed its output, and after ``max_runs`` programs. Closing
the pool stops every worker and waits until each zygote and everything in its namespaces is
gone. If the teachkit process dies, the workers die with it (parent-death signals).
"""

from __future__ import annotations

import asyncio
import logging
import os

from teachkit.errors import SandboxError
from teachkit.sandbox._worker import (
    _NoNamespaces,
    _weak_message,
    _Worker,
)
from teachkit.sandbox.config import IdMapping, SandboxConfig, SandboxReport
from teachkit.sandbox.limits import Limits, Program, RunResult

__all__ = ["SandboxPool"]

log = logging.getLogger("teachkit")


class SandboxPool:
    """Up to ``size`` programs at once, each in its own sandboxed child of a warm worker.

    Without the namespace layers (:attr:`SandboxReport.strong` false) :meth:`start` raises
    :class:`SandboxError` unless ``allow_weak`` is set.
    """

    def __init__(
        self,
        size: int | None = None,
        limits: Limits | None = None,
        *,
        config: SandboxConfig | None = None,
        allow_weak: bool = False,
    ) -> None:
        # two programs per CPU: while one waits on its wake-ups (request, fork, report), the other
        # runs, so the CPUs stay busy (measured in bench/verify_throughput.py)
        self.size = size or 2 * len(os.sched_getaffinity(0))
        self.limits = limits or Limits()
        self.config = config or SandboxConfig()
        self.allow_weak = allow_weak
        self._report: SandboxReport | None = None
        self._namespaces = self.config.isolation != "none"
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._slots = asyncio.Semaphore(self.size)
        self._start_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def report(self) -> SandboxReport | None:
        """The layers found when the first worker started (None before)."""
        return self._report

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> SandboxReport:
        """Start one worker (if none is running) and return the layers it has."""
        async with self._start_lock:
            if self._report is None:
                self._idle.append(await self._spawn())
        assert self._report is not None
        return self._report

    async def run(self, program: Program, limits: Limits | None = None) -> RunResult:
        """Run ``program`` in a fresh sandboxed child; never raises for what the program does."""
        if self._closed:
            raise SandboxError("The sandbox pool is closed; create a new SandboxPool to run more.")
        limits = limits or self.limits
        async with self._slots:
            if self._report is None:
                await self.start()
            worker = self._idle.pop() if self._idle else await self._spawn()
            try:
                result = await worker.run(program, limits)
            except BaseException:
                await worker.close(graceful=False)
                self._all.discard(worker)
                raise
            if worker.alive and not result.suspicious and worker.runs < self.config.max_runs:
                self._idle.append(worker)
            else:  # replaced: closed in the background, awaited by aclose()
                self._all.discard(worker)
                task = asyncio.create_task(worker.close(graceful=not result.suspicious))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            return result

    async def aclose(self) -> None:
        """Stop every worker; returns when no process of the pool is left."""
        self._closed = True
        workers, self._idle = list(self._all), []
        self._all.clear()
        await asyncio.gather(*(w.close(graceful=True) for w in workers), *self._closing)

    async def _spawn(self) -> _Worker:
        mapping = IdMapping.for_host(namespaces=self._namespaces)
        worker = _Worker(self.config, mapping, self.limits)
        try:
            found = await worker.start()
        except _NoNamespaces as exc:
            await worker.close(graceful=False)
            if self.config.isolation == "namespaces":
                raise SandboxError(_weak_message(str(exc)), reason=str(exc)) from None
            log.info("sandbox: no namespaces here (%s); using the weak mode", exc)
            self._namespaces = False
            mapping = IdMapping.for_host(namespaces=False)
            worker = _Worker(self.config, mapping, self.limits)
            try:
                found = await worker.start()
            except BaseException:
                await worker.close(graceful=False)
                raise
        except BaseException:  # a worker that failed to start leaves no process
            await worker.close(graceful=False)
            raise
        if self._report is None:
            report = SandboxReport.from_zygote(found, mapping, worker.limit_processes)
            if not report.strong and not self.allow_weak:
                await worker.close(graceful=True)
                raise SandboxError(_weak_message("; ".join(report.missing)), missing=report.missing)
            if not report.strong:
                log.warning("sandbox: weak isolation (missing: %s)", ", ".join(report.missing))
            self._report = report
        self._all.add(worker)
        return worker
