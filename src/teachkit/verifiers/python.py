"""The ``python`` verifier: run the answer's code against unit tests in the sandbox.

Record fields it reads (each configurable; see docs/sandbox.md):

=======================  ==================================================================
option (default)         what it names
=======================  ==================================================================
``field`` (assistant)    the text holding the code: a fenced ```python block (``block``:
                         ``last``, ``first``) or the whole text (``block: whole``, or when
                         there is no fenced block and ``fallback_whole`` is set)
``prefix_field`` (none)  text put before the code, e.g. ``meta.prompt`` when the answer is a
                         HumanEval-style completion of a function signature
``tests_field``          the tests: a list of assert statements (each one counts for the
(meta.tests)             score), or one test script; with an entry point the script defines
                         ``check(candidate)`` and ``check(<entry point>)`` is called after it
``entry_point_field``    the name of the function under test (HumanEval's ``entry_point``)
(meta.entry_point)
=======================  ==================================================================

Verdict reasons: ``passed``, ``assertion_failed``, ``error``, ``syntax_error``, ``exited_early``
(the program ended before its tests ran to the end, whatever its exit status), ``timeout``,
``memory``, ``output_limit``, ``file_size``, ``no_code``, ``no_tests``. ``detail`` names the
failing assertion (its source line and message); ``score`` is the fraction of asserts passed.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar, Literal

from pydantic import Field

from teachkit.records import FieldRef, Record, field_text, meta_value
from teachkit.sandbox import Limits, SandboxConfig, SandboxPool
from teachkit.sandbox.harness import Outcome, Tests, harness_program, read_outcome
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase

__all__ = ["PythonSpec", "PythonVerifier", "extract_code"]

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


class PythonSpec(VerifierSpecBase):
    """Recipe keys of the ``python`` verifier."""

    kind: Literal["python"] = "python"
    field: FieldRef = "assistant"
    block: Literal["last", "first", "whole"] = "last"
    fallback_whole: bool = True
    prefix_field: FieldRef | None = None
    tests_field: FieldRef = "meta.tests"
    entry_point_field: FieldRef = "meta.entry_point"
    #: wall-clock seconds for the code and all its tests
    timeout: float = Field(default=10.0, gt=0.0, le=600.0)
    memory_mb: int = Field(default=512, ge=32)
    processes: int = Field(default=8, ge=1, le=4096)
    output_kb: int = Field(default=64, ge=1)
    #: concurrent programs (default: one per CPU)
    workers: int | None = Field(default=None, ge=1, le=256)

    def build(self, ctx: VerifierContext) -> PythonVerifier:
        return PythonVerifier(self, allow_weak=ctx.allow_weak_sandbox)


def extract_code(text: str, block: str = "last", fallback_whole: bool = True) -> str:
    """The code in ``text``: a fenced Python (or untagged) block, else the whole text."""
    if block != "whole":
        blocks = [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in _PYTHON_TAGS]
        if blocks:
            return blocks[-1 if block == "last" else 0].strip("\n")
        if not fallback_whole:
            return ""
    return text.strip("\n")


class PythonVerifier(Verifier):
    """Runs each record's code with its tests in a warm sandbox pool."""

    kind: ClassVar[str] = "python"

    def __init__(
        self, spec: PythonSpec, *, allow_weak: bool = False, sandbox: SandboxConfig | None = None
    ) -> None:
        self.spec = spec
        self.limits = Limits(
            wall=spec.timeout,
            memory=spec.memory_mb * 1024 * 1024,
            processes=spec.processes,
            output=spec.output_kb * 1024,
        )
        self.pool = SandboxPool(spec.workers, self.limits, config=sandbox, allow_weak=allow_weak)

    async def start(self) -> None:
        await self.pool.start()

    async def aclose(self) -> None:
        await self.pool.aclose()

    def describe(self) -> dict[str, Any]:
        report = self.pool.report
        return {"kind": self.kind, "sandbox": report.to_dict() if report else None}

    def tests_for(self, record: Record) -> Tests | None:
        """The record's tests, or None when it has none."""
        value = _raw(record, self.spec.tests_field)
        if isinstance(value, list | tuple):
            asserts = [str(a) for a in value if str(a).strip()]
            return Tests.from_asserts(asserts) if asserts else None
        if not isinstance(value, str) or not value.strip():
            return None
        entry = _raw(record, self.spec.entry_point_field)
        return Tests(source=value, entry_point=str(entry) if entry else None)

    async def verify(self, record: Record) -> Verdict:
        started = time.monotonic()
        code = extract_code(
            field_text(record, self.spec.field), self.spec.block, self.spec.fallback_whole
        )
        if not code.strip():
            return Verdict(False, "no_code", f"no code in {self.spec.field}")
        tests = self.tests_for(record)
        if tests is None:
            return Verdict(False, "no_tests", f"no tests in {self.spec.tests_field}")
        if tests.asserts is None and tests.entry_point is None and "def check(" in tests.source:
            return Verdict(
                False,
                "no_tests",
                f"the tests define check() but {self.spec.entry_point_field} "
                "is empty, so nothing would call it",
            )
        if self.spec.prefix_field:
            code = field_text(record, self.spec.prefix_field) + code
        result = await self.pool.run(harness_program(code, tests), self.limits)
        outcome = read_outcome(result, tests)
        data = {"tests": outcome.total, "passed": outcome.passed, **result.to_dict()}
        return _verdict(outcome, tests, time.monotonic() - started, data)


def _verdict(outcome: Outcome, tests: Tests, duration: float, data: dict[str, Any]) -> Verdict:
    score = outcome.passed / outcome.total if outcome.total else 0.0
    if tests.asserts is None:
        score = 1.0 if outcome.ok else 0.0
    reason = outcome.status
    if reason == "failed":  # some asserts failed: the first failure says how
        reason = str(outcome.failures[0].get("reason", "assertion_failed"))
    if outcome.ok:
        return Verdict(True, "passed", "", duration, score, data)
    if outcome.running is not None and reason in ("timeout", "memory", "output_limit"):
        running = tests.asserts[outcome.running] if tests.asserts else None
        if running:
            outcome = Outcome(outcome.status, 0, outcome.total, [], f"while running: {running}")
    return Verdict(False, reason, outcome.detail, duration, score, data)


def _raw(record: Record, field: str) -> Any:
    """A field's value as stored (lists stay lists), '' when absent."""
    if not field.startswith("meta."):
        return field_text(record, field)
    value = meta_value(record.meta, field[5:])
    return "" if value is None else value
