"""Run the fake server until stopped, or in a child process of its own.

A benchmark must not let client and server share one event loop (each would slow the other), so
:class:`FakeServerProcess` starts ``python -m teachkit serve-fake`` (the ``teachkit serve-fake``
command) and reads the URL it prints once listening.
"""

from __future__ import annotations

import asyncio
import select
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from teachkit.testing.fake_server import FAULTS, FakeServer, FaultPlan

__all__ = ["FakeServerProcess", "serve_forever"]


def serve_forever(server: FakeServer, announce: Callable[[str], None]) -> None:
    """Start ``server``, call ``announce(url)`` once it listens, serve until SIGINT/SIGTERM."""

    async def main() -> None:
        url = await server.start()
        announce(url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())


def fault_args(faults: FaultPlan) -> list[str]:
    """Command-line flags of ``teachkit serve-fake`` that reproduce ``faults``."""
    args: list[str] = []
    for name in FAULTS[1:]:
        rate = getattr(faults, f"rate_{name}")
        if rate:
            args += [f"--rate-{name}", repr(rate)]
    if faults.first:
        args += ["--first", ",".join(faults.first)]
    if faults.retry_after is None:
        args += ["--no-retry-after"]
    else:
        args += ["--retry-after", repr(faults.retry_after)]
    args += ["--hang-seconds", repr(faults.hang_seconds), "--seed", str(faults.seed)]
    return args


class FakeServerProcess:
    """The fake server in a child process; use as a (sync) context manager.

    ``url`` is the root URL (Anthropic style) and ``base_url`` the OpenAI-style one.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        script: str | Path | None = None,
        faults: FaultPlan | None = None,
        port: int = 0,
        capacity: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "teachkit",
            "serve-fake",
            "--port",
            str(port),
            "--latency",
            repr(latency),
            "--jitter",
            repr(jitter),
            *fault_args(faults or FaultPlan()),
        ]
        if script is not None:
            self.args += ["--script", str(script)]
        if capacity is not None:
            self.args += ["--capacity", str(capacity)]
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> str:
        proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        self._proc = proc
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self.startup_timeout)
        line = proc.stdout.readline().strip() if ready else ""
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError(
                f"The fake server did not start within {self.startup_timeout:g} s "
                f"(command: {' '.join(self.args)})."
            )
        self.url = line
        return line

    def stats(self) -> dict[str, Any]:
        """The server's counters (``GET /_stats``)."""
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=10) as resp:
            data: dict[str, Any] = orjson.loads(resp.read())
        return data

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FakeServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
