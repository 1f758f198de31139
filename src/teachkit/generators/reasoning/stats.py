"""What the reasoning generator reports in the manifest: problems, traces, flags, verdicts.

Counted from the trace records themselves (:meth:`ReasoningStats.add`), so a resumed run rebuilds
the same figures from its accepted and rejected records.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["ReasoningStats", "difficulty_label"]


def difficulty_label(pass_rate: float) -> str:
    """``unsolved`` (no trace passed), ``hard`` (under half), ``medium``, ``easy`` (all)."""
    if pass_rate <= 0.0:
        return "unsolved"
    if pass_rate >= 1.0:
        return "easy"
    return "hard" if pass_rate < 0.5 else "medium"


class ReasoningStats:
    def __init__(self) -> None:
        self.problems: set[str] = set()
        self.traces = 0
        self.passed = 0
        self.failed_requests = 0
        self.flags: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.verdicts: Counter[str] = Counter()
        self.difficulty: Counter[str] = Counter()
        self.judge: Counter[str] = Counter()
        self.problem_writing: Counter[str] = Counter()

    def add(self, meta: dict[str, Any]) -> None:
        """Count one trace record (its ``meta``)."""
        problem = str(meta.get("problem_id"))
        if problem not in self.problems:
            self.problems.add(problem)
            label = (meta.get("difficulty") or {}).get("label")
            if label:
                self.difficulty[str(label)] += 1
        self.traces += 1
        passed = bool(meta.get("passed"))
        self.passed += passed
        self.flags.update(meta.get("flags") or [])
        self.outcomes[str(meta.get("outcome") or ("passed" if passed else "failed"))] += 1
        verdicts = meta.get("verdicts") or {}
        for name, verdict in verdicts.items():
            if name == "judge" or not isinstance(verdict, dict):
                continue
            self.verdicts[str(verdict.get("reason"))] += 1
        judge = verdicts.get("judge")
        if isinstance(judge, dict):
            if "error" in judge:
                self.judge[str(judge["error"])] += 1
            else:
                self.judge["graded"] += 1
                self.judge["judge_passed"] += bool(judge.get("passed"))
                if judge.get("agrees") is False:
                    self.judge["disagreements"] += 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "problems": len(self.problems),
            "traces": self.traces,
            "passed": self.passed,
            "pass_rate": round(self.passed / self.traces, 4) if self.traces else None,
            "outcomes": dict(self.outcomes),
            "flags": dict(self.flags),
            "verdicts": dict(self.verdicts),
            "difficulty": dict(self.difficulty),
        }
        if self.failed_requests:
            out["failed_requests"] = self.failed_requests
        if self.judge:
            out["judge"] = dict(self.judge)
        if self.problem_writing:
            out["problem_writing"] = dict(self.problem_writing)
        return out
