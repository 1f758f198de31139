"""The generator contract: a recipe kind that renders requests and parses answers into Records.

The engine drives a generator like this::

    gen.restore(state)                 # on resume: rebuild pools and counters from the run dir
    while more work is wanted:
        job = gen.next_job()           # a root request (None: nothing to send right now)
        ... the engine sends job.request to the teacher named by job.teacher ...
        outcome = gen.on_response(job, response)   # or gen.on_failure(job, error)
        # outcome.candidates go through the filter chain, outcome.rejected straight to rejected/,
        # outcome.jobs are sent next (follow-up stages, e.g. instance generation)
        gen.on_accepted(record)        # for each candidate that passed the chain

Everything is called from the event loop, one call at a time, so generators need no locks.
Job keys must be deterministic and unique within a run (e.g. ``"gen:000042"``): the run directory
uses them to resume without losing or repeating work.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from teachkit.errors import TeacherError
from teachkit.records import Record, Rejection
from teachkit.teachers.backend import Capabilities, Request, Response

__all__ = [
    "Generator",
    "GeneratorContext",
    "Job",
    "Outcome",
    "RestoreState",
    "failure_record",
]


@dataclass(slots=True)
class Job:
    """One request to a teacher, plus what the generator needs to parse its answer."""

    key: str
    stage: str
    request: Request
    context: dict[str, Any] = field(default_factory=dict)
    #: which teacher answers: "teacher" (the recipe's) or the name of another configured one
    teacher: str = "teacher"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "stage": self.stage,
            "request": self.request.to_dict(),
            "context": self.context,
            "teacher": self.teacher,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            key=data["key"],
            stage=data["stage"],
            request=Request.from_dict(data["request"]),
            context=dict(data.get("context") or {}),
            teacher=data.get("teacher") or "teacher",
        )


@dataclass(slots=True)
class Outcome:
    candidates: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)


@dataclass(slots=True)
class RestoreState:
    """What a resumed run already holds, in commit order."""

    #: every job that was created, root and follow-up, in creation order
    jobs: list[Job] = field(default_factory=list)
    accepted: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class GeneratorContext:
    """Facts about the run that a generator may use."""

    recipe_name: str
    recipe_hash: str
    seed: int
    teacher_backend: str
    teacher_model: str
    capabilities: Capabilities
    sampling: dict[str, Any]
    generation_depth: int = 0
    #: directory that relative data paths in the recipe are resolved against
    base_dir: str = "."
    #: folders outside base_dir that data files may come from (see teachkit.recipe.paths)
    allowed_paths: tuple[str, ...] = ()

    def rng(self, *salt: object) -> random.Random:
        """A random generator seeded by the run seed and ``salt`` (e.g. a job index)."""
        return random.Random(f"{self.seed}:" + ":".join(str(s) for s in salt))

    def provenance(self) -> dict[str, Any]:
        """The ``meta`` every synthetic record starts from."""
        return {
            "source": "synthetic",
            "recipe": self.recipe_name,
            "recipe_hash": self.recipe_hash,
            "teacher": {"backend": self.teacher_backend, "model": self.teacher_model},
            "sampling": self.sampling,
            "depth": self.generation_depth,
        }


def failure_record(job: Job, ctx: GeneratorContext) -> Record:
    """A placeholder record for a request that never produced an answer, kept in rejected/."""
    request = job.request
    messages = request.messages or [{"role": "user", "content": request.prompt or ""}]
    meta = ctx.provenance()
    meta.update({"job": job.key, "stage": job.stage})
    return Record(messages=list(messages), meta=meta)


class Generator(ABC):
    """Base class of recipe kinds. Subclasses set ``kind`` and implement three methods."""

    kind: ClassVar[str]

    def __init__(self, spec: Any, ctx: GeneratorContext) -> None:
        self.spec = spec
        self.ctx = ctx

    @property
    def count(self) -> int:
        """How many accepted records the run should end with."""
        return int(self.spec.count)

    def restore(self, state: RestoreState) -> None:
        """Rebuild counters and pools from a resumed run directory."""

    @abstractmethod
    def next_job(self) -> Job | None:
        """The next root job, or None when nothing can be sent right now."""

    @abstractmethod
    def on_response(self, job: Job, response: Response) -> Outcome:
        """Parse an answer into candidate records, rejections and follow-up jobs."""

    def on_failure(self, job: Job, error: TeacherError) -> Outcome:
        """A job failed for good: keep a placeholder record with the reason."""
        return Outcome(
            rejected=[
                Rejection(
                    failure_record(job, self.ctx), "teacher", error.reason, {"message": str(error)}
                )
            ]
        )

    def on_accepted(self, record: Record) -> None:
        """A candidate passed the whole filter chain (for generators that grow a pool)."""

    def stats(self) -> dict[str, Any]:
        """Generator-specific statistics for the run summary and manifest."""
        return {}
