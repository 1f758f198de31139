"""A verifier that passes when the answer equals the expected one in ``meta`` (after strip).

Recipe (inside the ``verify`` filter)::

    filters:
      - {kind: verify, verifier: {kind: exact_answer, key: answer}}
"""

from __future__ import annotations

import time
from typing import Literal

from teachkit.records import Record, meta_value
from teachkit.verifiers.base import Verdict, Verifier, VerifierContext, VerifierSpecBase


class ExactAnswerSpec(VerifierSpecBase):
    kind: Literal["exact_answer"] = "exact_answer"
    #: where the expected answer is: ``record.meta[key]`` (dots reach into nested mappings)
    key: str = "answer"
    #: compare letters case-insensitively
    ignore_case: bool = False

    def build(self, ctx: VerifierContext) -> ExactAnswerVerifier:
        return ExactAnswerVerifier(self.key, self.ignore_case)


class ExactAnswerVerifier(Verifier):
    kind = "exact_answer"

    def __init__(self, key: str, ignore_case: bool) -> None:
        self.key = key
        self.ignore_case = ignore_case

    async def verify(self, record: Record) -> Verdict:
        started = time.perf_counter()
        expected = meta_value(record.meta, self.key)
        if expected is None:
            return Verdict(False, "no_expected_answer", f"meta.{self.key} is not set")
        answer, wanted = record.assistant.strip(), str(expected).strip()
        if self.ignore_case:
            answer, wanted = answer.casefold(), wanted.casefold()
        passed = answer == wanted
        return Verdict(
            passed,
            "passed" if passed else "wrong_answer",
            "" if passed else f"expected {wanted!r}, got {answer!r}",
            duration=time.perf_counter() - started,
            data={"expected": str(expected)},
        )
