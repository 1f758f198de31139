"""The ``verifier`` scorer: any registered verifier grades each candidate.

A correct candidate beats an incorrect one; graded verifiers (tests passed, rows matched) rank by
:attr:`Verdict.value`. Each candidate is checked as the record ``prompt turns + the candidate``,
with the prompt's ``meta`` (so ``reference_field: meta.answer`` reads the prompt file's answer)::

    scorers:
      - kind: verifier
        verifier: {kind: math, reference_field: meta.answer}

The verdicts are kept per candidate (``meta.candidates[i].verdicts``). An unexpected verifier
error leaves that candidate unscored (``verifier_error``); a setup error stops the run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from teachkit.errors import TeachkitError
from teachkit.filters.verify import VerifierSpec
from teachkit.generators.preference.scorers.base import (
    Prompt,
    Scorer,
    ScorerContext,
    ScorerSpecBase,
    Scores,
)
from teachkit.records import Record
from teachkit.verifiers.base import Verifier, VerifierContext

__all__ = ["VerifierScorer", "VerifierScorerSpec"]

log = logging.getLogger("teachkit")


class VerifierScorerSpec(ScorerSpecBase):
    kind: Literal["verifier"] = "verifier"
    #: the verifier to run (``kind`` plus that verifier's options)
    verifier: VerifierSpec
    #: verifications in flight at once
    max_concurrency: int = Field(default=8, ge=1, le=4096)
    #: let code verifiers run with a weaker sandbox when the full one is not available
    allow_weak_sandbox: bool = False

    def build(self, ctx: ScorerContext) -> VerifierScorer:
        vctx = VerifierContext(
            base_dir=ctx.base_dir, seed=ctx.seed, allow_weak_sandbox=self.allow_weak_sandbox
        )
        verifier = self.verifier.build(vctx)
        if not isinstance(verifier, Verifier):
            raise TeachkitError(
                f"The verifier kind {self.verifier.kind!r} built {type(verifier).__name__}, not a "
                "teachkit.verifiers.Verifier. Fix its spec's build() method."
            )
        return VerifierScorer(verifier, self.name or "verifier", self.max_concurrency)


class VerifierScorer(Scorer):
    kind: ClassVar[str] = "verifier"

    def __init__(self, verifier: Verifier, name: str, max_concurrency: int = 8) -> None:
        super().__init__(name)
        self.verifier = verifier
        self._slots = asyncio.Semaphore(max_concurrency)
        self._started = False
        self._lock = asyncio.Lock()
        self.reasons: Counter[str] = Counter()

    async def start(self) -> None:
        async with self._lock:
            if not self._started:
                await self.verifier.start()
                self._started = True

    async def _one(self, record: Record) -> tuple[float | None, dict[str, Any]]:
        async with self._slots:
            try:
                verdict = await self.verifier.verify(record)
            except TeachkitError:
                raise  # the setup is wrong: every later candidate would fail the same way
            except Exception as exc:
                log.warning("verifier %s failed on a candidate", self.verifier.kind, exc_info=True)
                self.reasons["verifier_error"] += 1
                return None, {"reason": "verifier_error", "error": f"{type(exc).__name__}: {exc}"}
        self.reasons[verdict.reason] += 1
        return verdict.value, verdict.to_dict()

    async def score(self, prompt: Prompt, candidates: Sequence[str]) -> Scores:
        await self.start()
        records = [
            Record(
                messages=[*prompt.messages, {"role": "assistant", "content": text}],
                meta=dict(prompt.meta),
            )
            for text in candidates
        ]
        results = await asyncio.gather(*(self._one(r) for r in records))
        return Scores([v for v, _ in results], [d for _, d in results])

    def stats(self) -> dict[str, Any]:
        return {"verifier": self.verifier.describe(), "verdicts": dict(self.reasons)}

    async def aclose(self) -> None:
        if self._started:
            await self.verifier.aclose()
