"""Run Python code against tests in the sandbox, with an end marker that early exits cannot fake.

::

    tests = Tests.from_asserts(["assert add(1, 2) == 3", "assert add(0, 0) == 0"])
    outcome = read_outcome(await pool.run(harness_program(code, tests)), tests)
    outcome.status, outcome.passed, outcome.total, outcome.failures

The harness program (``_harness.py``) takes the run's authenticated report channel before any
candidate code runs and sends the end marker only after the last test, so a program that exits
with status 0 early (``sys.exit(0)``, ``os._exit(0)``, SystemExit raised in the candidate, a
killed process) has no valid end marker and ``read_outcome`` returns ``exited_early``.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.sandbox.limits import Program, RunResult

__all__ = ["Outcome", "Tests", "harness_program", "read_outcome"]

_SOURCE = (Path(__file__).resolve().parent / "_harness.py").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Tests:
    """What candidate code is checked against.

    ``asserts``: independent statements run one after the other in the candidate's namespace
    (each counts for the score). ``source``: one test script; with ``entry_point``, the script
    defines ``check(candidate)`` and is followed by ``check(<entry_point>)`` (HumanEval).
    """

    asserts: tuple[str, ...] | None = None
    source: str = ""
    entry_point: str | None = None

    @classmethod
    def from_asserts(cls, asserts: list[str] | tuple[str, ...]) -> Tests:
        return cls(asserts=tuple(asserts))

    @property
    def count(self) -> int:
        return len(self.asserts) if self.asserts is not None else 1

    def payload(self) -> dict[str, Any]:
        if self.asserts is not None:
            return {"asserts": list(self.asserts)}
        return {"source": self.source, "entry_point": self.entry_point}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the harness found. ``status``: ``passed``, ``failed`` (some asserts failed),
    ``assertion_failed``, ``error``, ``syntax_error``, ``exited_early``, ``memory``, or a limit
    of the sandbox (``timeout``, ``output_limit``, ``file_size``)."""

    status: str
    passed: int
    total: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""
    #: index of the test that was running when the program stopped without an end marker
    running: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def harness_program(code: str, tests: Tests) -> Program:
    """The sandbox program that runs ``code`` and then ``tests``."""
    stdin = json.dumps({"code": code, "tests": tests.payload()}).encode()
    return Program(source=_SOURCE, stdin=stdin, filename="<harness>", cache_code=True)


_LIMIT_STATUS = {"timeout": "timeout", "cpu": "timeout", "output": "output_limit"}


def read_outcome(result: RunResult, tests: Tests) -> Outcome:
    """The outcome of a harness run: trusted only when a valid end marker arrived."""
    summary, running, code_ran = None, None, False
    for message in result.messages:
        data = _literal(message)
        if data.get("status") is not None:
            summary = data
        elif "start" in data:
            running = int(data["start"])
        elif data.get("event") == "code":
            code_ran = True
    stderr = _last_line(result.stderr)
    if result.limit == "output" or (result.limit in _LIMIT_STATUS and summary is None):
        return Outcome(_LIMIT_STATUS[result.limit], 0, tests.count, [], stderr, running)
    if result.limit == "file_size" and summary is None:
        return Outcome("file_size", 0, tests.count, [], "wrote past the file size limit", running)
    if result.limit == "memory" or (summary or {}).get("status") == "memory":
        return Outcome("memory", 0, tests.count, [], "MemoryError", running)
    if not result.finished or summary is None:
        why = (
            f"killed by signal {result.signal}"
            if result.signal
            else f"exit status {result.exit_code}"
        )
        stage = "during the tests" if running is not None else "before the tests"
        if not code_ran:
            stage = "before the candidate code ran"
        return Outcome("exited_early", 0, tests.count, [], f"{why} {stage}; {stderr}", running)
    failures = [r for r in summary.get("results", []) if not r.get("ok")]
    status = str(summary["status"])
    passed, total = int(summary.get("passed", 0)), int(summary.get("total", 0))
    if status == "passed" and (total != tests.count or passed != total):
        status = "error"  # cannot happen with the genuine harness: refuse rather than trust
    detail = str(summary.get("detail") or "")
    if failures and not detail:
        first = failures[0]
        where = first.get("line") or (
            tests.asserts[first["i"]].strip() if tests.asserts is not None else ""
        )
        detail = f"{where}: {first.get('detail')}" if where else str(first.get("detail"))
    return Outcome(status, passed, tests.count, failures, detail, running)


def _literal(message: bytes) -> dict[str, Any]:
    try:
        value = ast.literal_eval(message.decode("utf-8", "replace"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:300] if lines else ""
