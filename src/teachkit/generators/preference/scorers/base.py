"""The scorer contract: grade every candidate answer to one prompt.

A scorer is a recipe kind (a spec model with ``kind: Literal[...]`` and ``build(ctx)``)
registered in the ``teachkit.scorers`` entry-point group, like filters and verifiers::

    scores = await scorer.score(prompt, candidates)
    scores.values        # one float per candidate, None when it could not be scored
    scores.details       # one dict per candidate: the verdict, the ratings, the error
    scores.comparisons   # pairwise scorers: who won each pair, in both presentation orders

Higher is better. A scorer that cannot score one candidate (a request that failed, an answer it
cannot parse) gives None for it, with the reason in its detail; the export then leaves that
candidate out as ``missing_score``. A scorer whose setup is wrong (no API key, a missing extra, no
sandbox) raises a :class:`~teachkit.errors.TeachkitError`, which stops the run so it can resume.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, SerializeAsAny

from teachkit.recipe.kinds import KindSpec, kind_field
from teachkit.records import Message
from teachkit.registry import Registry

if TYPE_CHECKING:
    from teachkit.recipe.base import TeacherConfig
    from teachkit.teachers.teacher import Teacher

__all__ = [
    "SCORERS",
    "Prompt",
    "Scorer",
    "ScorerContext",
    "ScorerSpec",
    "ScorerSpecBase",
    "Scores",
    "conversation_text",
]


@dataclass(slots=True)
class Prompt:
    """What every candidate answers: the prompt turns and the prompt's own facts (``meta``:
    reference answers, tests, a database) that verifiers check against."""

    messages: list[Message]
    meta: dict[str, Any] = field(default_factory=dict)
    prompt_id: str = ""


@dataclass(slots=True)
class Scores:
    values: list[float | None]
    details: list[dict[str, Any]]
    comparisons: list[dict[str, Any]] | None = None


@dataclass
class ScorerContext:
    """What a scorer spec may use to build its scorer."""

    base_dir: Path
    seed: int = 0
    #: the run's teacher for a config (None: the recipe's own), by name; None in a dry run
    teacher_factory: Callable[[TeacherConfig | None, str], Teacher] | None = None


class Scorer(ABC):
    """Base class of scorers. ``name`` labels the scores in records and export options."""

    kind: ClassVar[str] = "scorer"

    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self) -> None:
        """Acquire resources; called once before the first :meth:`score`."""

    @abstractmethod
    async def score(self, prompt: Prompt, candidates: Sequence[str]) -> Scores:
        """One value per candidate (None: not scored), higher is better."""

    def stats(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        """Release resources."""


class ScorerSpecBase(KindSpec):
    """Common keys of every scorer in a ``preference`` generator's ``scorers:`` list."""

    #: label of its scores in records and in ``export.pairing.rank_by`` (default: the kind)
    name: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")

    def build(self, ctx: ScorerContext) -> Scorer:
        raise NotImplementedError(f"{type(self).__name__} does not implement build()")


def _check(obj: object) -> str | None:
    if not (isinstance(obj, type) and issubclass(obj, ScorerSpecBase)):
        return f"it is {obj!r}, not a subclass of {__name__}.ScorerSpecBase"
    field_info = obj.model_fields.get("kind")
    args = getattr(field_info.annotation, "__args__", ()) if field_info is not None else ()
    if len(args) != 1:
        return "its 'kind' field is not a one-value Literal such as Literal['my_scorer']"
    return None


SCORERS: Registry[type[ScorerSpecBase]] = Registry("teachkit.scorers", "scorer kind", _check)

#: a ``scorers:`` entry: its ``kind`` picks the spec model from the registry
ScorerSpec = Annotated[SerializeAsAny[ScorerSpecBase], kind_field(SCORERS, "scorer")]


def conversation_text(messages: Sequence[Message]) -> str:
    """Turns as ``ROLE: text`` blocks, how judges and cross-encoders see a prompt."""
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)
