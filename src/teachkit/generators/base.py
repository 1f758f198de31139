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

A job may also carry a ready record and no request (``job.needs_teacher`` is False): the
engine then calls ``gen.on_ready(job)`` instead of asking a teacher; that is how ``teachkit
filter`` feeds rows a user already has through the same runner.

Everything is called from the event loop, one call at a time, so generators need no locks.
Job keys must be deterministic and unique within a run (e.g. ``"gen:000042"``): the run directory
uses them to resume without losing or repeating work.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic

from typing_extensions import TypeVar

from teachkit.errors import TeacherError
from teachkit.recipe.kinds import GeneratorSpecBase
from teachkit.records import Record, Rejection
from teachkit.teachers.backend import Capabilities, ChatTemplate, Request, Response

__all__ = [
    "Generator",
    "GeneratorContext",
    "Job",
    "Outcome",
    "RestoreState",
    "SpecT",
    "failure_record",
]


class Job:
    """One unit of work: a request to a teacher, plus what the generator needs to parse its
    answer; or, for a source of ready records (``teachkit filter``), a record and no request.

    ``key`` is unique and deterministic within a run; the journal records it when the job is
    created and when it is committed, which is how a killed run resumes exactly.
    """

    __slots__ = ("_request", "context", "key", "record", "stage", "teacher")

    def __init__(
        self,
        key: str,
        stage: str,
        request: Request | None = None,
        context: dict[str, Any] | None = None,
        teacher: str = "teacher",
        *,
        record: Record | None = None,
    ) -> None:
        self.key = key
        self.stage = stage
        self._request = request
        self.context: dict[str, Any] = context if context is not None else {}
        #: which teacher answers: "teacher" (the recipe's) or the name of another configured one
        self.teacher = teacher
        #: the candidate itself, for a job that needs no teacher answer (not journalled: the
        #: source rebuilds it from ``context`` on resume)
        self.record = record

    @property
    def needs_teacher(self) -> bool:
        """False for a job that carries a ready record and no teacher request."""
        return self._request is not None

    @property
    def request(self) -> Request:
        if self._request is None:
            raise ValueError(f"job {self.key} carries a ready record and no teacher request")
        return self._request

    def __repr__(self) -> str:
        return f"Job(key={self.key!r}, stage={self.stage!r}, teacher={self.teacher!r})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "stage": self.stage}
        if self._request is not None:
            out["request"] = self._request.to_dict()
        out["context"] = self.context
        out["teacher"] = self.teacher
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        request = data.get("request")
        return cls(
            key=str(data["key"]),
            stage=str(data["stage"]),
            request=Request.from_dict(request) if request is not None else None,
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
    #: share of real rows mixed into train when the loop is closed on purpose (else None)
    real_fraction: float | None = None
    #: directory that relative data paths in the recipe are resolved against
    base_dir: str = "."
    #: folders outside base_dir that data files may come from (see teachkit.recipe.paths)
    allowed_paths: tuple[str, ...] = ()
    #: the teacher model's own chat template, when its backend knows it (Magpie derives its
    #: raw prompts from it)
    chat_template: ChatTemplate | None = None

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
            **({"real_fraction": self.real_fraction} if self.real_fraction is not None else {}),
        }


def failure_record(job: Job, ctx: GeneratorContext) -> Record:
    """A placeholder record for a request that never produced an answer, kept in rejected/."""
    if job.record is not None:
        messages = list(job.record.messages)
    else:
        request = job.request
        messages = request.messages or [{"role": "user", "content": request.prompt or ""}]
    meta = ctx.provenance()
    meta.update({"job": job.key, "stage": job.stage})
    return Record(messages=list(messages), meta=meta)


#: the spec type a generator is built from (bare ``Generator`` means any generator spec)
SpecT = TypeVar("SpecT", bound=GeneratorSpecBase, default=GeneratorSpecBase)


class Generator(ABC, Generic[SpecT]):
    """Base class of recipe kinds (and of other sources of jobs, such as the rows that
    ``teachkit filter`` cleans). Subclasses set ``kind`` and implement two methods.

    ``Generator[MySpec]`` types ``self.spec`` as ``MySpec``.
    """

    kind: ClassVar[str]
    #: accepted records expected per root job, for dry-run estimates and pacing (a generator
    #: whose answers hold several records, or that rejects many, sets its own)
    expected_yield: ClassVar[float] = 1.0
    #: True for a source with a fixed list of work (the rows of a file): the run is complete
    #: when every job is committed, however many records were kept
    complete_when_exhausted: ClassVar[bool] = False

    def __init__(self, spec: SpecT, ctx: GeneratorContext) -> None:
        self.spec: SpecT = spec
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

    def on_response(self, job: Job, response: Response) -> Outcome:
        """Parse an answer into candidate records, rejections and follow-up jobs."""
        raise NotImplementedError(f"{type(self).__name__} sends no teacher requests")

    def on_ready(self, job: Job) -> Outcome:
        """A job without a teacher request: its candidates are ready (default: its record)."""
        if job.record is None:
            raise ValueError(f"job {job.key} has neither a request nor a record")
        return Outcome(candidates=[job.record])

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

    def completion_message(self, accepted: int, rejected: int) -> str:
        """What the run summary says when a ``complete_when_exhausted`` source is done."""
        return f"{accepted} records kept, {rejected} dropped with their reasons in rejected/."

    def stats(self) -> dict[str, Any]:
        """Generator-specific statistics for the run summary and manifest."""
        return {}
