"""The ``verify`` filter: keep a record only when its answer checks out by execution.

It runs any registered verifier (``math``, ``sql``, ``python`` or a plugin's, see
:mod:`teachkit.verifiers`) on each record::

    filters:
      - kind: verify
        verifier: {kind: math, reference_field: meta.answer}
        keep_failed: false      # true: keep failing records too, with their verdict (preferences)
        max_concurrency: 8      # verifications in flight at once

A failing record is dropped with the verdict's reason (``wrong_answer``, ``timeout``, ...) and the
verdict (:meth:`Verdict.to_dict`) as the drop detail; a kept record carries it in
``meta["verdicts"][<filter name>]``. Verifiers do their work off the event loop (threads, worker
processes, the sandbox), so verifications overlap with generation.

A verifier error that is about the setup (a missing extra, no sandbox) stops the run; any other
unexpected error drops that record as ``verifier_error`` and is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SerializeAsAny

from teachkit.errors import TeachkitError
from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase
from teachkit.filters.base import Verdict as FilterVerdict
from teachkit.recipe.kinds import VERIFIERS, VerifierSpecBase, kind_field
from teachkit.records import Record
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext

__all__ = ["VerifierSpec", "VerifyFilter", "VerifySpec"]

log = logging.getLogger("teachkit")

#: a ``verifier:`` section: its ``kind`` picks the spec model from the registry
VerifierSpec = Annotated[SerializeAsAny[VerifierSpecBase], kind_field(VERIFIERS, "verifier")]


class VerifySpec(FilterSpecBase):
    """``filters: [{kind: verify, verifier: {kind: math}}]`` (see docs/verify.md)."""

    kind: Literal["verify"] = "verify"
    #: the verifier to run (``kind`` plus that verifier's options)
    verifier: VerifierSpec
    #: keep failing records too (their verdict in meta), e.g. to build preference pairs
    keep_failed: bool = False
    #: verifications in flight at once
    max_concurrency: int = Field(default=8, ge=1, le=4096)
    #: let code verifiers run with a weaker sandbox when the full one is not available
    allow_weak_sandbox: bool = False

    def build(self, ctx: FilterContext) -> VerifyFilter:
        vctx = VerifierContext(
            base_dir=ctx.base_dir,
            seed=ctx.seed,
            allow_weak_sandbox=self.allow_weak_sandbox,
            allowed_paths=ctx.allowed_paths,
        )
        verifier = self.verifier.build(vctx)
        if not isinstance(verifier, Verifier):
            raise TeachkitError(
                f"The verifier kind {self.verifier.kind!r} built {type(verifier).__name__}, not a "
                "teachkit.verifiers.Verifier. Fix its spec's build() method."
            )
        return VerifyFilter(
            verifier,
            keep_failed=self.keep_failed,
            max_concurrency=self.max_concurrency,
            name=self.name,
        )


class VerifyFilter(Filter):
    kind: ClassVar[str] = "verify"
    cost: ClassVar[int] = 3

    def __init__(
        self,
        verifier: Verifier,
        *,
        keep_failed: bool = False,
        max_concurrency: int = 8,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.verifier = verifier
        self.keep_failed = keep_failed
        self.max_concurrency = max_concurrency
        self._slots: asyncio.Semaphore | None = None
        self.reasons: Counter[str] = Counter()
        self.passed = 0
        self._seconds = 0.0

    async def start(self) -> None:
        await self.verifier.start()

    async def check(self, record: Record) -> FilterVerdict:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        async with self._slots:
            try:
                verdict = await self.verifier.verify(record)
            except TeachkitError:
                raise  # the setup is wrong: every later record would fail the same way
            except Exception as exc:
                log.warning(
                    "verifier %s failed on record %s", self.verifier.kind, record.id, exc_info=True
                )
                verdict = Verdict(False, "verifier_error", f"{type(exc).__name__}: {exc}")
        self.reasons[verdict.reason] += 1
        self.passed += verdict.passed
        self._seconds += verdict.duration
        result = verdict.to_dict()
        if verdict.passed or self.keep_failed:
            verdicts = record.meta.get("verdicts")
            if not isinstance(verdicts, dict):
                verdicts = record.meta["verdicts"] = {}
            verdicts[self.name] = result
            return KEEP
        return Drop(verdict.reason, result)

    def stats(self) -> dict[str, Any]:
        checked = sum(self.reasons.values())
        if not checked:
            return {}
        return {
            "verifier": self.verifier.describe(),
            "checked": checked,
            "passed": self.passed,
            "reasons": dict(self.reasons),
            "mean_seconds": round(self._seconds / checked, 4),
        }

    async def aclose(self) -> None:
        await self.verifier.aclose()
