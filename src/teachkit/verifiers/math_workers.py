"""The ``math`` verifier's worker processes: Math-Verify off the event loop, with hard limits.

Each worker runs :func:`serve` (one JSON job a line on stdin, one JSON answer a line on stdout);
a comparison that overruns its wall-clock timeout costs its worker, which is killed and replaced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import select
import subprocess
import sys
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from teachkit.errors import EnvironmentFault, MissingExtraError
from teachkit.verifiers.math_answers import compare_answers

__all__ = ["serve"]

log = logging.getLogger("teachkit")

#: how long a new worker may take to import Math-Verify and SymPy
_STARTUP_SECONDS = 120.0


def serve() -> None:
    """A worker process's loop: one JSON job a line on stdin, one JSON answer a line on stdout."""
    import resource

    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints (parsers, warnings) never reach the protocol
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    logging.disable(logging.CRITICAL)
    memory = int(sys.argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj).encode() + b"\n")

    try:
        compare_answers("1", "1")  # imports and warms the parsers
    except ImportError as exc:
        send({"missing": str(exc)})
        return
    except Exception as exc:
        send({"error": f"{type(exc).__name__}: {exc}"})
        return
    send({"ready": True})
    for line in sys.stdin.buffer:
        job = json.loads(line)
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        cpu = int(used + job.pop("timeout") + 2)  # a kernel backstop should the host vanish
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
        try:
            send({"reason": compare_answers(**job)})
        except BaseException as exc:  # MemoryError, RecursionError: a verdict, not a crash
            send({"reason": "error", "error": f"{type(exc).__name__}: {exc}"[:300]})


# --- the worker processes -----------------------------------------------------------------------
class _Worker:
    """One process running :func:`serve`; killed and replaced when a comparison overruns."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        #: set by the pool's close(): no new process, answers in flight are abandoned
        self.closed = False
        self._buffer = b""

    def spawn(self) -> None:
        if self.closed:
            return
        code = (
            "import sys; sys.path[:0] = sys.argv[2:]; "
            "from teachkit.verifiers.math_workers import serve; serve()"
        )
        paths = [p for p in sys.path if isinstance(p, str) and p]
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", code, str(self.memory_mb), *paths],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},
            start_new_session=True,
            bufsize=0,
        )
        self.ready, self._buffer = False, b""

    def signal(self) -> None:
        """Kill the process but leave its pipes to the thread that may be reading them."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next answer; ``{}`` when the process ended, None when ``deadline`` passed."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return {}
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _start(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.spawn()
        if self.ready or self.proc is None:
            return
        hello = self._read(time.monotonic() + _STARTUP_SECONDS)
        if hello and hello.get("ready"):
            self.ready = True
            return
        if self.closed:
            return
        self.kill()
        if hello and "missing" in hello:
            raise MissingExtraError("math-verify", "math", "The math verifier")
        why = (hello or {}).get("error") or "it exited or did not answer in time"
        raise EnvironmentFault(
            f"The math verifier's worker process could not start ({why}). Check that "
            f"math-verify imports in {sys.executable}, or raise memory_mb "
            f"(now {self.memory_mb}).",
            executable=sys.executable,
        )

    def call(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one comparison with a hard wall-clock ``timeout``."""
        closed = {"reason": "error", "error": "the verifier was closed"}
        for attempt in (0, 1):
            if self.closed:
                return closed
            self._start()
            if self.closed or self.proc is None or self.proc.stdin is None:
                return closed
            try:
                self.proc.stdin.write(json.dumps({**job, "timeout": timeout}).encode() + b"\n")
            except BrokenPipeError:  # it died while idle: start another, once
                self.kill()
                if attempt:
                    raise
                continue
            answer = self._read(time.monotonic() + timeout)
            if answer:
                return answer
            if self.closed:
                return closed
            code = self.proc.poll()
            self.kill()
            self.spawn()  # the replacement warms up while others work
            if answer is None:
                return {"reason": "timeout"}
            return {"reason": "crashed", "error": f"the worker process ended (status {code})"}
        raise AssertionError("unreachable")


def _kill_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.kill()


class _Pool:
    """``size`` workers, each used by one thread of a private executor at a time."""

    def __init__(self, size: int, memory_mb: int) -> None:
        self.workers = [_Worker(memory_mb) for _ in range(size)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self.workers:
            self._idle.put(worker)
        self._threads = ThreadPoolExecutor(size, thread_name_prefix="teachkit-math")
        self._finalizer = weakref.finalize(self, _kill_all, self.workers)

    def _run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        worker = self._idle.get()
        try:
            return worker.call(job, timeout)
        finally:
            self._idle.put(worker)

    def start(self) -> None:
        for worker in self.workers:
            if worker.proc is None:
                worker.spawn()

    async def call(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._run, job, timeout)

    def close(self) -> None:
        for worker in self.workers:
            worker.closed = True
            worker.signal()  # a thread reading its answer sees the end of the pipe at once
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._finalizer()
