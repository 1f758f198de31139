"""Sources of jobs that need no teacher: the rows a user already has (``teachkit filter``).

A :class:`RowSource` is driven by the same :class:`~teachkit.engine.runner.Runner` as a
generator: each row is a job (``row:0000012``) that carries its record and no request, so the
filter chain, the duplicate check, the journal and resume are the ones a generated run uses.
"""

from __future__ import annotations

from typing import Literal

from teachkit.generators.base import Generator, GeneratorContext, Job, Outcome, RestoreState
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.records import Record

__all__ = ["RowSource", "RowsSpec"]


class RowsSpec(GeneratorSpecBase):
    """The 'spec' of a row source: how many rows there are."""

    kind: Literal["rows"] = "rows"


def _row(job: Job) -> int:
    """The row index of a row job (its key, so format-1 jobs without a context work too)."""
    prefix, _, number = job.key.partition(":")
    if prefix != "row" or not number.isdigit():
        raise ValueError(f"{job.key} is not a row job")
    return int(number)


class RowSource(Generator[RowsSpec]):
    kind = "rows"
    complete_when_exhausted = True

    def __init__(self, records: list[Record], ctx: GeneratorContext) -> None:
        super().__init__(RowsSpec(count=max(1, len(records))), ctx)
        self.records = records
        self.next_index = 0
        self.created: set[int] = set()

    @property
    def count(self) -> int:
        return len(self.records)

    def restore(self, state: RestoreState) -> None:
        self.created = {_row(job) for job in state.jobs}

    def next_job(self) -> Job | None:
        while self.next_index in self.created:
            self.next_index += 1
        index = self.next_index
        if index >= len(self.records):
            return None
        self.next_index += 1
        return Job(
            key=f"row:{index:07d}",
            stage="filter",
            context={"row": index},
            record=self.records[index],
        )

    def on_ready(self, job: Job) -> Outcome:
        if job.record is not None:
            return Outcome(candidates=[job.record])
        index = _row(job)
        if index >= len(self.records):
            raise ValueError(f"{job.key} is past the last row ({len(self.records)})")
        return Outcome(candidates=[self.records[index]])

    def completion_message(self, accepted: int, rejected: int) -> str:
        return (
            f"{accepted} of {len(self.records)} rows kept, {rejected} dropped with their reasons "
            "in rejected/."
        )
