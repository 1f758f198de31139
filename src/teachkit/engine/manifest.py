"""Counting what a run did: the funnel, drops per filter and reason, answers per stage and teacher.

Everything here is rebuilt from the journal on resume (:meth:`Tally.from_recovered`), so the
manifest of a run killed and resumed says what the whole run did, not what the last manifest
write before the kill had seen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from teachkit.records import Record, Rejection
from teachkit.rundir.journal import CommitEntry, TeacherUsage
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


#: the usage of a job that called no teacher
_NOTHING = TeacherUsage()
#: rejections that happen before the filter chain (no candidate record was produced)
_PRE_FILTER = frozenset({"teacher", "generator", "structured_output"})


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
        tally.root_jobs = sum(1 for entry in state.jobs if entry.job.key not in state.followups)
        for commit in state.commits:
            tally._count(commit)
        tally.candidates = tally.accepted + sum(
            n for (f, _), n in tally.drops.items() if f not in _PRE_FILTER
        )
        return tally

    def _count(self, commit: CommitEntry) -> None:
        own = commit.usage.get(commit.teacher, _NOTHING)
        st = self.stages.setdefault(commit.stage, _stage())
        if commit.ok:
            st["answers"] += 1
        else:
            st["failed"] += 1
        st["cached"] += own.cached
        st["prompt_tokens"] += own.prompt_tokens
        st["completion_tokens"] += own.completion_tokens
        for name, usage in commit.usage.items():
            model = self.models.setdefault(name, _stage())
            model["answers"] += usage.requests + usage.cached
            model["cached"] += usage.cached
            model["failed"] += usage.failed
            model["prompt_tokens"] += usage.prompt_tokens
            model["completion_tokens"] += usage.completion_tokens

    def record(
        self, commit: CommitEntry, accepted: list[Record], rejected: list[Rejection]
    ) -> None:
        self._count(commit)
        self.accepted += len(accepted)
        self.accepted_this_session += len(accepted)
        self.rejected += len(rejected)
        for r in rejected:
            self.drops[(r.filter, r.reason)] += 1
        self.candidates += len(accepted) + sum(1 for r in rejected if r.filter not in _PRE_FILTER)
        self.answers_this_session += 1
        own = commit.usage.get(commit.teacher)
        if own is not None:
            self.cached_this_session += own.cached
            self.completion_tokens_this_session += own.completion_tokens

    def drops_by_filter(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (name, reason), n in sorted(self.drops.items()):
            out.setdefault(name, {})[reason] = n
        return out

    def funnel(self, requested: int) -> dict[str, object]:
        return {
            "requested": requested,
            "answers": sum(s["answers"] for s in self.stages.values()),
            "generated": self.candidates,
            "dropped": self.drops_by_filter(),
            "accepted": self.accepted,
        }
