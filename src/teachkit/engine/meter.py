"""What a run pays for, counted per job so the journal is the ledger.

Every teacher of a session is a :class:`MeteredTeacher`: each answer it gives is noted on the
meter of the job being processed (a context variable, so the judge's calls made while a job is
filtered land on that job). The job's commit line carries its meter, so the run's spend is the
sum over the journal, and a run killed at any moment loses no spend it committed. Answers paid
but not committed when a session was killed are in the request cache; the job that asked for
them is pending, and when a later session commits it from the cache its meter is ``resumed``:
those cached answers count as paid, once, because it was this run that paid them. A job whose
answer was already in the cache when it was created (the journal says so) pays nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from teachkit.errors import TeacherError
from teachkit.recipe.base import Prices
from teachkit.rundir.journal import TeacherUsage
from teachkit.teachers.backend import Request, Response
from teachkit.teachers.cost import estimate_cost
from teachkit.teachers.teacher import Teacher

__all__ = ["JobMeter", "MeteredTeacher", "Spend", "current_meter"]


@dataclass(slots=True)
class JobMeter:
    """What one job's teachers did."""

    #: the job was created by an earlier session that did not commit it: an answer now found in
    #: the cache was paid by that session
    resumed: bool = False
    usage: dict[str, TeacherUsage] = field(default_factory=dict)


_CURRENT: ContextVar[JobMeter | None] = ContextVar("teachkit_job_meter", default=None)


def current_meter() -> ContextVar[JobMeter | None]:
    """The context variable holding the meter of the job the current task processes."""
    return _CURRENT


class Spend:
    """The session's view of the run's spend: the journal's ledger, plus what this session paid
    for jobs not committed yet."""

    def __init__(self, committed: dict[str, TeacherUsage] | None = None) -> None:
        self.committed: dict[str, TeacherUsage] = committed or {}
        self.live: dict[str, TeacherUsage] = {}
        self.prices: dict[str, Prices | None] = {}

    def note(
        self, meter: JobMeter | None, name: str, response: Response | None, *, failed: bool = False
    ) -> None:
        live = self.live.get(name)
        if live is None:
            live = self.live[name] = TeacherUsage()
        targets = [live]
        if meter is not None:
            own = meter.usage.get(name)
            if own is None:
                own = meter.usage[name] = TeacherUsage()
            targets.append(own)
        if failed or response is None:
            for usage in targets:
                usage.failed += 1
        elif response.cached and not (meter is not None and meter.resumed):
            for usage in targets:
                usage.cached += 1
        else:
            prompt, completion = response.usage.prompt_tokens, response.usage.completion_tokens
            for usage in targets:
                usage.requests += 1
                usage.prompt_tokens += prompt
                usage.completion_tokens += completion

    def commit(self, meter: JobMeter) -> None:
        """The job's commit line holds its meter now: move it from live to committed."""
        for name, usage in meter.usage.items():
            self.committed.setdefault(name, TeacherUsage()).add(usage)
            live = self.live.get(name)
            if live is not None:
                live.subtract(usage)

    def total(self) -> dict[str, TeacherUsage]:
        out: dict[str, TeacherUsage] = {}
        for part in (self.committed, self.live):
            for name, usage in part.items():
                out.setdefault(name, TeacherUsage()).add(usage)
        return out

    def cost_usd(self, name: str | None = None) -> float:
        total = 0.0
        for teacher, usage in self.total().items():
            if name is not None and teacher != name:
                continue
            prices = self.prices.get(teacher)
            total += estimate_cost(usage.prompt_tokens, usage.completion_tokens, prices)
        return total


class MeteredTeacher(Teacher):
    """A :class:`Teacher` whose answers are noted on the current job's meter."""

    spend: Spend

    def bind(self, spend: Spend) -> MeteredTeacher:
        self.spend = spend
        spend.prices[self.name] = self.prices
        return self

    async def complete(self, request: Request) -> Response:
        meter = _CURRENT.get()
        try:
            response = await super().complete(request)
        except TeacherError:
            self.spend.note(meter, self.name, None, failed=True)
            raise
        self.spend.note(meter, self.name, response)
        return response

    def answered_from_cache(self, response: Response, meter: JobMeter) -> None:
        """The engine found ``response`` in the cache itself (no call was made)."""
        self.cached += 1
        self.spend.note(meter, self.name, response)
