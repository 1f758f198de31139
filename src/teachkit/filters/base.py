"""The filter contract: keep a record, or drop it with a reason.

A concrete filter implements one async :meth:`Filter.check`. Filters that call a teacher (the
judge) or run code (verify) await it; cheap ones return at once. It may enrich ``record.meta``
(scores). Streaming
stateful filters (dedup, novelty) remember what they kept in :meth:`Filter.remember`, which the
chain calls only for records that passed the *whole* chain, and :meth:`Filter.warm` rebuilds that
state from the accepted records of a resumed run.

The chain counts keeps and drops per filter and reason; the engine writes dropped records to
``rejected/`` with their reason, so nothing is lost silently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from teachkit.recipe import kinds
from teachkit.recipe.base import TeacherConfig
from teachkit.records import Record

if TYPE_CHECKING:
    from teachkit.teachers.teacher import Teacher

__all__ = [
    "KEEP",
    "Drop",
    "Filter",
    "FilterChain",
    "FilterContext",
    "FilterSpecBase",
    "Keep",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class Keep:
    pass


@dataclass(frozen=True, slots=True)
class Drop:
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


Verdict = Keep | Drop
KEEP = Keep()


class Filter(ABC):
    """Base class. ``name`` appears in rejected records and the funnel."""

    kind: ClassVar[str] = "filter"
    #: cost class used to order the default chain: 0 rules, 1 dedup/novelty, 2 judge, 3 verify
    cost: ClassVar[int] = 0

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.kind

    async def start(self) -> None:
        """Acquire resources (load a model, start a teacher)."""

    @abstractmethod
    async def check(self, record: Record) -> Verdict:
        """Keep ``record``, or drop it with a reason."""

    def remember(self, record: Record) -> None:
        """``record`` was accepted by the whole chain (stateful filters index it)."""

    def forget(self, record: Record) -> bool:
        """This filter kept ``record`` (and may have indexed it), but the record was dropped
        later: by a later filter, or by the engine (quota). Returns whether anything changed."""
        return False

    def warm(self, records: Iterable[Record]) -> None:
        """Rebuild state from records accepted earlier (resume)."""
        for record in records:
            self.remember(record)

    def stats(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        pass


@dataclass
class FilterChain:
    filters: list[Filter]
    kept: Counter[str] = field(default_factory=Counter)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)

    async def start(self) -> None:
        for f in self.filters:
            await f.start()

    async def evaluate(self, record: Record) -> tuple[Filter, Drop] | None:
        """Run the chain in order; return the first (filter, drop) or None when kept."""
        for index, f in enumerate(self.filters):
            verdict = await f.check(record)
            if isinstance(verdict, Drop):
                self.dropped[(f.name, verdict.reason)] += 1
                for earlier in self.filters[:index]:  # e.g. dedup must not keep it indexed
                    earlier.forget(record)
                return f, verdict
            self.kept[f.name] += 1
        return None

    def remember(self, record: Record) -> None:
        for f in self.filters:
            f.remember(record)

    def forget(self, record: Record) -> None:
        for f in self.filters:
            f.forget(record)

    def warm(self, records: list[Record]) -> None:
        for f in self.filters:
            f.warm(records)

    def stats(self) -> dict[str, Any]:
        return {f.name: f.stats() for f in self.filters if f.stats()}

    async def aclose(self) -> None:
        for f in self.filters:
            await f.aclose()


@dataclass
class FilterContext:
    """What a filter spec may use to build its filter."""

    #: directory that relative paths in the recipe are resolved against
    base_dir: Path
    #: the recipe's seed
    seed: int
    #: returns a Teacher for a config (None: the recipe's own teacher), shared and closed by the
    #: engine; ``name`` labels its usage in the manifest (e.g. "judge")
    teacher_factory: Callable[[TeacherConfig | None, str], Teacher]
    #: folders outside base_dir that data files may come from (see teachkit.recipe.paths)
    allowed_paths: tuple[str, ...] = ()


class FilterSpecBase(kinds.FilterSpecBase):
    """Base of filter specs: ``build`` makes the filter (see :mod:`teachkit.recipe.kinds`)."""

    def build(self, ctx: FilterContext) -> Filter:
        raise NotImplementedError(f"{type(self).__name__} does not implement build()")
