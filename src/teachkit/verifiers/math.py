"""The ``math`` verifier: the final answer of a worked solution against a reference answer.

The answer is extracted from the record's text (``\\boxed{...}``, GSM8K's ``#### 42``, "The answer
is ...", or regexes of the recipe's own), then compared with the reference (``meta.answer`` by
default) by Math-Verify, so ``\\frac{1}{2}`` equals ``0.5``, ``[1,2)`` differs from ``(1,2)``,
``\\{1,2\\}`` equals ``\\{2,1\\}`` and ``3\\text{ cm}`` equals ``3``::

    filters:
      - kind: verify
        verifier: {kind: math, reference_field: meta.answer, timeout: 5}

Math-Verify bounds its own work with ``SIGALRM``, which only works in the main thread of the main
interpreter (off it, it raises). teachkit switches that off (``parsing_timeout=None``,
``timeout_seconds=None``) and runs the comparison in a small pool of worker processes instead: each
comparison has a hard wall-clock timeout after which its worker is killed and replaced, plus an
address-space and CPU limit inside the worker, so a hostile answer such as ``9^{9^{9^{9}}}`` costs
one timeout and never a stuck thread. Workers get no environment variables (no secrets).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from teachkit.errors import MissingExtraError
from teachkit.records import FieldRef, Record, field_text
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase
from teachkit.verifiers.math_answers import (
    _EXTRACTORS,
    Extractor,
    compare_answers,
    extract_answer,
    find_boxed,
)
from teachkit.verifiers.math_workers import _Pool

__all__ = ["MathSpec", "MathVerifier", "compare_answers", "extract_answer", "find_boxed"]

log = logging.getLogger("teachkit")


# --- the verifier -------------------------------------------------------------------------------
class MathSpec(VerifierSpecBase):
    """``verifier: {kind: math, reference_field: meta.answer}`` (see docs/verify.md)."""

    kind: Literal["math"] = "math"
    #: where the worked solution is
    answer_field: FieldRef = "assistant"
    #: where the reference answer is
    reference_field: FieldRef = "meta.answer"
    #: extract the final answer from the reference too (a worked reference solution)
    extract_reference: bool = False
    #: regexes tried first, in order (group ``answer``, else group 1, else the match)
    patterns: list[str] = Field(default_factory=list)
    #: built-in extractors, tried in this order after ``patterns``
    extract: list[Extractor] = Field(default_factory=lambda: list(_EXTRACTORS))
    #: which ``\\boxed{}`` counts when there are several
    box: Literal["last", "first"] = "last"
    #: fall back to the last number in the text
    last_number: bool = False
    #: seconds one comparison may take before its worker is killed
    timeout: float = Field(default=5.0, gt=0.0, le=600.0)
    #: worker processes (comparisons at once)
    workers: int = Field(default=2, ge=1, le=64)
    #: address-space limit of a worker, in MiB
    memory_mb: int = Field(default=1024, ge=256, le=65536)
    #: Math-Verify's comparison options
    float_rounding: int = Field(default=6, ge=0, le=30)
    numeric_precision: int = Field(default=15, ge=1, le=1000)
    strict: bool = True

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"the pattern {pattern!r} is not a valid regex: {exc}") from exc
        return value

    def build(self, ctx: VerifierContext) -> MathVerifier:
        return MathVerifier(self)


class MathVerifier(Verifier):
    kind: ClassVar[str] = "math"

    def __init__(self, spec: MathSpec | None = None) -> None:
        try:
            found = importlib.util.find_spec("math_verify") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtraError("math-verify", "math", "The math verifier")
        self.spec = spec or MathSpec()
        self._patterns = [re.compile(p) for p in self.spec.patterns]
        self._pool = _Pool(self.spec.workers, self.spec.memory_mb)

    async def start(self) -> None:
        self._pool.start()

    def extract(self, text: str) -> tuple[str, str] | None:
        spec = self.spec
        return extract_answer(
            text,
            patterns=self._patterns,
            extract=list(spec.extract),
            box=spec.box,
            last_number=spec.last_number,
        )

    async def verify(self, record: Record) -> Verdict:
        started = time.monotonic()
        spec = self.spec
        reference = field_text(record, spec.reference_field).strip()
        if spec.extract_reference and reference:
            reference = (self.extract(reference) or ("", ""))[0]
        if not reference:
            return Verdict(False, "no_reference", f"{spec.reference_field} is empty")
        found = self.extract(field_text(record, spec.answer_field))
        if found is None:
            return Verdict(
                False,
                "no_answer",
                f"no final answer found in {spec.answer_field}",
                time.monotonic() - started,
                0.0,
                {"reference": reference},
            )
        answer, how = found
        job = {
            "answer": answer,
            "reference": reference,
            "float_rounding": spec.float_rounding,
            "numeric_precision": spec.numeric_precision,
            "strict": spec.strict,
        }
        result = await self._pool.call(job, spec.timeout)
        reason = str(result["reason"])
        detail = f'answer "{answer}", reference "{reference}"'
        if reason == "timeout":
            detail += f": the comparison took longer than {spec.timeout:g} s"
        elif result.get("error"):
            detail += f": {result['error']}"
        passed = reason == "passed"
        data = {"answer": answer, "reference": reference, "extractor": how}
        return Verdict(
            passed, reason, detail, time.monotonic() - started, 1.0 if passed else 0.0, data
        )

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.spec.workers, "timeout": self.spec.timeout}

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._pool.close)
