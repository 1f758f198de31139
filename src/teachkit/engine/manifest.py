"""Counting what a run did: the funnel, drops per filter and reason, tokens per stage and model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from teachkit.records import Record, Rejection
from teachkit.rundir.store import Recovered

__all__ = ["Tally"]


def _stage() -> dict[str, int]:
    return {
        "answers": 0,
        "cached": 0,
        "failed": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


@dataclass
class Tally:
    accepted: int = 0
    rejected: int = 0
    candidates: int = 0
    drops: Counter[tuple[str, str]] = field(default_factory=Counter)
    root_jobs: int = 0
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    models: dict[str, dict[str, int]] = field(default_factory=dict)
    accepted_this_session: int = 0
    answers_this_session: int = 0
    cached_this_session: int = 0
    completion_tokens_this_session: int = 0

    @classmethod
    def from_recovered(cls, state: Recovered) -> Tally:
        tally = cls()
        tally.accepted = len(state.accepted)
        tally.rejected = len(state.rejected)
        for rejection in state.rejected:
            tally.drops[(rejection.filter, rejection.reason)] += 1
        tally.root_jobs = sum(1 for job in state.jobs if job.key not in state.followups)
        for commit in state.commits:
            tally._count(commit.get("st", "generate"), commit)
        tally.candidates = tally.accepted + sum(
            n for (f, _), n in tally.drops.items() if f not in _PRE_FILTER
        )
        return tally

    def _count(self, stage: str, facts: dict[str, Any]) -> None:
        st = self.stages.setdefault(stage, _stage())
        model = self.models.setdefault(str(facts.get("tm", "teacher")), _stage())
        for bucket in (st, model):
            if facts.get("ok", 1):
                bucket["answers"] += 1
            else:
                bucket["failed"] += 1
            bucket["cached"] += int(facts.get("c", 0))
            if not facts.get("c"):
                bucket["prompt_tokens"] += int(facts.get("pt", 0))
                bucket["completion_tokens"] += int(facts.get("ct", 0))

    def record(
        self,
        stage: str,
        facts: dict[str, Any],
        accepted: list[Record],
        rejected: list[Rejection],
    ) -> None:
        self._count(stage, facts)
        self.accepted += len(accepted)
        self.accepted_this_session += len(accepted)
        self.rejected += len(rejected)
        for r in rejected:
            self.drops[(r.filter, r.reason)] += 1
        self.candidates += len(accepted) + sum(1 for r in rejected if r.filter not in _PRE_FILTER)
        self.answers_this_session += 1
        self.cached_this_session += int(facts.get("c", 0))
        self.completion_tokens_this_session += int(facts.get("ct", 0))

    def drops_by_filter(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (name, reason), n in sorted(self.drops.items()):
            out.setdefault(name, {})[reason] = n
        return out

    def funnel(self, requested: int) -> dict[str, Any]:
        generated = self.candidates
        return {
            "requested": requested,
            "answers": sum(s["answers"] for s in self.stages.values()),
            "generated": generated,
            "dropped": self.drops_by_filter(),
            "accepted": self.accepted,
        }


#: rejections that happen before the filter chain (no candidate record was produced)
_PRE_FILTER = frozenset({"teacher", "generator", "structured_output"})
