"""The value objects of the sandbox: what to run, within which limits, and what happened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LIMIT_NAMES", "Limits", "Program", "RunResult"]

KIB, MIB = 1024, 1024 * 1024

#: what :attr:`RunResult.limit` may name
LIMIT_NAMES = ("timeout", "cpu", "memory", "file_size", "output")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-program limits. Every program gets a fresh working directory on a tmpfs of ``tmpfs``
    bytes; ``cpu`` defaults to ``wall``; ``processes`` counts every process the program has at
    once (threads included); ``output`` caps stdout and stderr each."""

    wall: float = 10.0
    cpu: float | None = None
    memory: int = 512 * MIB
    file_size: int = 16 * MIB
    open_files: int = 64
    processes: int = 8
    output: int = 64 * KIB
    tmpfs: int = 64 * MIB

    def __post_init__(self) -> None:
        for name in ("wall", "memory", "file_size", "output", "tmpfs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be positive")
        if self.cpu is not None and self.cpu <= 0:
            raise ValueError("sandbox limit cpu must be positive")
        if self.open_files < 16:
            raise ValueError("sandbox limit open_files must be at least 16 (Python needs them)")
        if self.processes < 1:
            raise ValueError("sandbox limit processes must be at least 1")

    def as_request(self) -> dict[str, float]:
        return {
            "wall": float(self.wall),
            "cpu": float(self.cpu if self.cpu is not None else self.wall),
            "memory": self.memory,
            "file_size": self.file_size,
            "open_files": self.open_files,
            "processes": self.processes,
            "output": self.output,
            "tmpfs": self.tmpfs,
        }


@dataclass(frozen=True, slots=True)
class Program:
    """A Python program: ``source`` runs as ``__main__`` in a warm interpreter (the standard
    library already imported), with ``stdin`` on its standard input, ``files`` written into its
    working directory first (relative names) and ``argv`` as ``sys.argv[1:]``."""

    source: str
    stdin: bytes = b""
    files: Mapping[str, bytes] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    filename: str = "<program>"
    #: compile once per worker and reuse: only for a source you wrote (the test harness),
    #: since the worker compiles it outside the program's limits
    cache_code: bool = False


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one program did.

    ``limit`` names the limit that stopped it (``timeout``, ``cpu``, ``memory``, ``file_size``,
    ``output``) or is None. ``messages`` are the payloads the program sent on its authenticated
    report channel and ``finished`` says whether a valid end marker arrived (see
    :mod:`teachkit.sandbox.harness`); ``forged`` counts frames that failed authentication.
    ``leftover`` counts processes still alive when the program's main process ended (daemons,
    children), all killed.
    """

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall: float
    cpu: float
    limit: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    max_rss_kb: int = 0
    messages: tuple[bytes, ...] = ()
    finished: bool = False
    forged: int = 0
    exception: str | None = None
    leftover: int = 0
    #: the working directory could be emptied afterwards (else the worker is replaced)
    clean: bool = True

    @property
    def ok(self) -> bool:
        """Exited with status 0 within every limit."""
        return self.exit_code == 0 and self.limit is None

    @property
    def suspicious(self) -> bool:
        """Anything that makes the worker that ran it worth replacing."""
        return (
            self.limit is not None
            or self.signal is not None
            or self.leftover > 0
            or not self.clean
            or self.forged > 0
            or self.stdout_truncated
            or self.stderr_truncated
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "signal": self.signal,
            "limit": self.limit,
            "wall": round(self.wall, 6),
            "cpu": round(self.cpu, 6),
            "max_rss_kb": self.max_rss_kb,
            "leftover": self.leftover,
            "finished": self.finished,
            "forged": self.forged,
            "exception": self.exception,
        }
