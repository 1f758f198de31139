"""The verifier contract: run a record's answer against a computable ground truth.

A verifier reads the candidate answer and what it is checked against from a record (which fields,
each verifier documents; see docs/verify.md), and returns a :class:`Verdict`::

    verdict = await verifier.verify(record)
    verdict.passed, verdict.reason, verdict.detail, verdict.score, verdict.duration

Verifiers are used by the ``verify`` filter (cost class 3, the last of a chain), by the reasoning
and textbook generators to keep only checked traces and exercises, and as preference scorers
(``score`` is the fraction of tests passed, 1.0 or 0.0 for all-or-nothing checks).

Untrusted code (generated programs, SQL) never runs in the host process: the code verifiers run it
in :mod:`teachkit.sandbox`. ``verify`` is async; CPU-heavy or blocking work runs off the event
loop so the teacher is never waiting on a verification.

A verifier kind is a spec model (``kind: Literal["python"]``, ``build(ctx) -> Verifier``)
registered in the ``teachkit.verifiers`` entry-point group, like every other extension.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from teachkit.recipe import kinds
from teachkit.records import Record

__all__ = ["Verdict", "Verifier", "VerifierContext", "VerifierSpecBase"]

#: the longest ``detail`` a verdict keeps (failing assertion, extracted answer, error line)
DETAIL_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of one verification.

    ``reason`` is a short slug (``passed``, ``wrong_answer``, ``assertion_failed``, ``timeout``,
    ``no_answer``, ...) that becomes the drop reason of the ``verify`` filter; ``detail`` says
    which assertion failed, what answer was extracted, what the program printed last.
    """

    passed: bool
    reason: str
    detail: str = ""
    #: seconds the verification took (sandbox start-up and comparison included)
    duration: float = 0.0
    #: fraction of checks passed (tests, rows), for graded uses such as preference scoring
    score: float | None = None
    #: machine-readable facts: extracted answer, tests run, exit status, layers used
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.detail) > DETAIL_LIMIT:
            object.__setattr__(self, "detail", self.detail[: DETAIL_LIMIT - 3] + "...")

    @property
    def value(self) -> float:
        """``score`` when set, else 1.0 for a pass and 0.0 for a failure."""
        if self.score is not None:
            return self.score
        return 1.0 if self.passed else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "reason": self.reason,
            "detail": self.detail,
            "duration": round(self.duration, 6),
        }
        if self.score is not None:
            out["score"] = self.score
        if self.data:
            out["data"] = self.data
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            passed=bool(data["passed"]),
            reason=str(data["reason"]),
            detail=str(data.get("detail") or ""),
            duration=float(data.get("duration") or 0.0),
            score=None if data.get("score") is None else float(data["score"]),
            data=dict(data.get("data") or {}),
        )


@dataclass
class VerifierContext:
    """What a verifier spec may use to build its verifier."""

    #: directory that relative paths in the recipe (SQL fixtures, test files) resolve against
    base_dir: Path
    #: the recipe's seed
    seed: int = 0
    #: the recipe's ``allow_weak_sandbox`` (code verifiers refuse a weak sandbox otherwise)
    allow_weak_sandbox: bool = False
    #: folders outside base_dir that data files may come from (see teachkit.recipe.paths)
    allowed_paths: tuple[str, ...] = ()


class Verifier(ABC):
    """Base class of verifiers. Subclasses set ``kind`` and implement :meth:`verify`."""

    kind: ClassVar[str] = "verifier"

    async def start(self) -> None:
        """Acquire resources (start sandbox workers, open a fixture). Called once before use."""

    @abstractmethod
    async def verify(self, record: Record) -> Verdict:
        """Check one record; never raises for a wrong or hostile answer (that is a verdict)."""

    async def verify_many(self, records: Sequence[Record]) -> list[Verdict]:
        """Verdicts for several records, in order (concurrently where the verifier can)."""
        import asyncio

        return list(await asyncio.gather(*(self.verify(r) for r in records)))

    def describe(self) -> dict[str, Any]:
        """Secret-free facts for the manifest (e.g. the sandbox layers in use)."""
        return {"kind": self.kind}

    async def aclose(self) -> None:
        """Release resources (stop workers)."""


class VerifierSpecBase(kinds.VerifierSpecBase):
    """Base of verifier specs (the ``verify`` filter's ``verifier:`` section): ``build`` makes
    the verifier. Register a kind in the ``teachkit.verifiers`` entry-point group."""

    def build(self, ctx: VerifierContext) -> Verifier:
        raise NotImplementedError(f"{type(self).__name__} does not implement build()")
