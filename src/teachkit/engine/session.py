"""One session of a run: open or resume the run directory, build the parts, write the manifest.

Opening is careful about what it touches: configuration errors (a missing key, a bad model path)
fail before the run directory is looked at; a directory that is not a run directory, or one that
holds a run of another identity (recipe, input files, rows), is refused before anything is
written; the journal is checked against the manifest and the shards before recovery cuts
anything.
"""

from __future__ import annotations

import logging
import platform
import sqlite3
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from teachkit.engine.manifest import Tally
from teachkit.engine.meter import MeteredTeacher, Spend
from teachkit.engine.resume import check_identity, check_manifest
from teachkit.errors import BudgetExceededError, RunDirError
from teachkit.filters.base import FilterChain, FilterContext
from teachkit.generators.base import Generator, GeneratorContext, RestoreState
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.identity import RunIdentity
from teachkit.recipe.load import dump_recipe, recipe_hash
from teachkit.recipe.models import Recipe
from teachkit.records import Record
from teachkit.rundir.layout import DirKind, RunDir, atomic_write
from teachkit.rundir.state import RunStatus, ledger
from teachkit.rundir.store import Recovered, Store
from teachkit.teachers.backend import Capabilities
from teachkit.teachers.cache import RequestCache

__all__ = ["Session", "SessionResult"]

log = logging.getLogger("teachkit")


@dataclass
class SessionResult:
    status: RunStatus
    message: str
    error: BaseException | None = None


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _open_cache(path: Path) -> RequestCache:
    """The request cache; a damaged one is an error that says what to do, not a traceback."""
    try:
        cache = RequestCache(path)
        cache.get("teachkit-probe")
    except (sqlite3.DatabaseError, ValueError, TypeError, AttributeError, IsADirectoryError) as e:
        raise RunDirError(
            f"The request cache {path} is damaged ({e}). Move it (and {path.name}.log) away "
            "and run again: the answers it held are asked again, and paid again on a paid "
            "teacher.",
            path=str(path),
        ) from None
    return cache


@dataclass
class Session:
    recipe: Recipe
    rundir: RunDir
    identity: RunIdentity
    use_cache: bool = True
    cache_path: str | None = None
    #: the rows of ``teachkit filter`` (None: the recipe's generator makes the jobs)
    rows: list[Record] | None = None
    # built by open()
    store: Store = field(init=False)
    recovered: Recovered = field(init=False)
    tally: Tally = field(init=False)
    source: Generator[Any] = field(init=False)
    chain: FilterChain = field(init=False)
    spend: Spend = field(default_factory=Spend)
    teachers: dict[str, MeteredTeacher] = field(default_factory=dict)
    followup_keys: set[str] = field(default_factory=set)
    accepted_ids: set[str] = field(default_factory=set)
    cache: RequestCache | None = None
    status: RunStatus = RunStatus.RUNNING
    message: str = ""
    started: float = field(default_factory=time.time)
    previous: dict[str, Any] = field(default_factory=dict)
    #: seconds from the first request to the last commit of this session (the generation call)
    generation_seconds: float = 0.0
    #: the directory already holds everything asked for (open() found nothing to do)
    already_complete: bool = False
    #: the cache is the run directory's own, made by this run: a new job never finds its
    #: answer there, so the runner does not look before sending
    own_cache: bool = False
    _started: bool = False
    _count: int | None = None

    # --- derived settings -------------------------------------------------------------------
    @property
    def curating(self) -> bool:
        return self.rows is not None

    @property
    def count(self) -> int:
        if self._count is None:
            rows = self.rows
            self._count = (
                len(rows) if rows is not None else int(self.recipe.require_generator().count)
            )
        return self._count

    @property
    def max_requests(self) -> int:
        if self.curating:
            return 2**62  # rows are not teacher requests
        return self.recipe.run.max_requests or 5 * self.count + 50

    @property
    def window(self) -> int:
        size = self.recipe.teacher.max_concurrency
        if self.curating:
            return size
        limit = self.teacher().backend.max_parallel
        return min(size, limit) if limit else size

    def teacher(self) -> MeteredTeacher:
        """The recipe's teacher (built on first use: ``teachkit filter`` may never need it)."""
        if "teacher" not in self.teachers:
            self.teachers["teacher"] = MeteredTeacher(
                self.recipe.teacher, name="teacher", cache=self.cache
            ).bind(self.spend)
        return self.teachers["teacher"]

    # --- setup ------------------------------------------------------------------------------
    def open(self) -> None:
        rundir = self.rundir
        # everything that can fail on configuration (a missing key, a bad model path) fails here,
        # before the run directory is touched
        if not self.curating:
            self.teacher()
        self.chain = self._build_chain()
        built = self._build_source()  # reads the data files, before the directory is touched
        if rundir.kind() is DirKind.RUN:
            check_identity(rundir, self.recipe, self.identity, self.rows)
        rundir.lock()
        if rundir.kind() is DirKind.RUN:
            check_identity(rundir, self.recipe, self.identity, self.rows)
            self.previous = check_manifest(rundir)
        self.store = Store(rundir, fsync=self.recipe.run.fsync)
        own_path = self.use_cache and self.recipe.cache.enabled
        own_path = own_path and not (self.cache_path or self.recipe.cache.path)
        if not rundir.exists():
            own = own_path and not rundir.default_cache_path.exists()
            self.store.initialize(self.identity.to_dict(), _version("teachkit"), own_cache=own)
        self.recovered = self.store.recover()
        run = self.recovered.journal.run
        self.own_cache = bool(own_path and run is not None and run.own_cache)
        if self.recovered.journal.run is None:
            self.store.append_identity(self.identity.to_dict(), _version("teachkit"))
        resolved = dump_recipe(self.recipe)
        stamp = yaml.safe_dump({"teachkit": {"recipe_hash": recipe_hash(self.recipe)}})
        atomic_write(rundir.recipe_path, (resolved + stamp).encode())
        self.followup_keys = set(self.recovered.followups)
        self.tally = Tally.from_recovered(self.recovered)
        self.accepted_ids = {record.id for record in self.recovered.accepted}
        self.spend.committed = ledger(self.recovered.commits)
        if self.use_cache and self.recipe.cache.enabled:
            path = self.cache_path or self.recipe.cache.path or rundir.default_cache_path
            self.cache = _open_cache(Path(path))
            for teacher in self.teachers.values():
                teacher.cache = self.cache
        self.source = built
        r = self.recovered
        self.source.restore(
            RestoreState(jobs=[e.job for e in r.jobs], accepted=r.accepted, rejected=r.rejected)
        )
        if self.curating:
            self.already_complete = len(r.committed) >= self.count and not r.pending
        else:
            self.already_complete = self.tally.accepted >= self.count

    def _context(self) -> GeneratorContext:
        sampling = {"seed": self.recipe.seed, **self.recipe.teacher.sampling.as_options()}
        common: dict[str, Any] = {
            "recipe_name": self.recipe.name,
            "recipe_hash": recipe_hash(self.recipe),
            "seed": self.recipe.seed,
            "sampling": sampling,
            "generation_depth": self.recipe.teacher.generation_depth,
            "real_fraction": self.recipe.real_fraction if self.recipe.allow_closed_loop else None,
            "base_dir": self.recipe.base_dir,
            "allowed_paths": self.recipe.allowed_paths,
        }
        if self.curating and "teacher" not in self.teachers:
            return GeneratorContext(
                teacher_backend="none", teacher_model="", capabilities=Capabilities(), **common
            )
        t = self.teacher()
        return GeneratorContext(
            teacher_backend=t.backend_id,
            teacher_model=t.model,
            capabilities=t.capabilities,
            **common,
            chat_template=t.backend.chat_template(),
        )

    def _build_source(self) -> Generator[Any]:
        if self.rows is not None:
            from teachkit.engine.sources import RowSource

            return RowSource(self.rows, self._context())
        generator: Generator[Any] = self.recipe.require_generator().build(self._context())
        return generator

    def teacher_for(self, config: TeacherConfig | None, name: str) -> MeteredTeacher:
        """A shared Teacher for filters (e.g. the judge); None means the recipe's teacher."""
        if config is None:
            return self.teacher()
        if name not in self.teachers:
            teacher = MeteredTeacher(config, name=name, cache=self.cache)
            self.teachers[name] = teacher.bind(self.spend)
        return self.teachers[name]

    def _build_chain(self) -> FilterChain:
        ctx = FilterContext(
            base_dir=Path(self.recipe.base_dir),
            seed=self.recipe.seed,
            teacher_factory=self.teacher_for,
            allowed_paths=self.recipe.allowed_paths,
        )
        filters = [spec.build(ctx) for spec in self.recipe.filters]
        if self.recipe.order_filters:
            filters.sort(key=lambda f: f.cost)  # stable: same-cost filters keep recipe order
        return FilterChain(filters)

    async def start(self) -> None:
        await self.chain.start()
        self.chain.warm(self.recovered.accepted)
        self.store.open(self.recovered, self.count)
        self._started = True

    def end(self, status: RunStatus, message: str) -> None:
        """Record how the session ended, in the journal and the manifest."""
        self.status, self.message = status, message
        if self._started:
            self.store.end(status, message, self.tally.accepted)
        self.write_manifest(status)

    async def close(self) -> None:
        """Release whatever :meth:`open` got to (it may have failed half-way)."""
        store: Store | None = getattr(self, "store", None)
        if store is not None:
            store.close()
        chain: FilterChain | None = getattr(self, "chain", None)
        if chain is not None:
            await chain.aclose()
        for teacher in self.teachers.values():
            await teacher.aclose()
        if self.cache is not None:
            self.cache.close()
        self.rundir.unlock()

    # --- money ------------------------------------------------------------------------------
    def cost_usd(self) -> float:
        """Spend of the whole run: the journal's ledger plus what this session paid for jobs
        not committed yet."""
        return self.spend.cost_usd()

    def check_budget(self) -> None:
        budget = self.recipe.run.budget_usd
        if budget is not None and self.cost_usd() >= budget:
            raise BudgetExceededError(
                f"The run spent ${self.cost_usd():.4f}, reaching its budget of ${budget:.4f}. "
                "It stopped cleanly; raise run.budget_usd (e.g. --set run.budget_usd=...) and run "
                "the same command again to continue."
            )

    # --- manifest ---------------------------------------------------------------------------
    def _teacher_stats(self) -> dict[str, Any]:
        teachers: dict[str, Any] = {}
        totals = self.spend.total()
        usage_before = self.previous.get("usage")
        before = usage_before.get("teachers") if isinstance(usage_before, dict) else None
        before = before if isinstance(before, dict) else {}
        for name in sorted(set(totals) | set(self.teachers)):
            teacher = self.teachers.get(name)
            stats: dict[str, Any] = dict(teacher.stats()) if teacher is not None else {}
            if teacher is None and isinstance(before.get(name), dict):
                stats.update(before[name])
            usage = totals.get(name)
            if usage is not None:
                for key in ("requests", "cached", "failed", "prompt_tokens", "completion_tokens"):
                    stats[key] = getattr(usage, key)
            stats["cost_usd"] = round(self.spend.cost_usd(name), 6)
            teachers[name] = stats
        return teachers

    def manifest(self, status: RunStatus) -> dict[str, Any]:
        tally = self.tally
        earlier = self.previous.get("sessions")
        sessions = [s for s in earlier if isinstance(s, dict)] if isinstance(earlier, list) else []
        sessions.append(
            {
                "started": self.started,
                "elapsed_s": round(time.time() - self.started, 3),
                "generation_s": round(self.generation_seconds, 3),
                "accepted": tally.accepted_this_session,
                "answers": tally.answers_this_session,
                "cached": tally.cached_this_session,
            }
        )
        return {
            "status": str(status),
            "message": self.message,
            "recipe": self.recipe.name,
            "recipe_hash": recipe_hash(self.recipe),
            "identity": self.identity.hash,
            "requested": self.count,
            "accepted": tally.accepted,
            "rejected": tally.rejected,
            "funnel": tally.funnel(self.count),
            "drops": tally.drops_by_filter(),
            "usage": {
                "stages": tally.stages,
                "teachers": self._teacher_stats(),
                "by_model": tally.models,
            },
            "cost_usd": round(self.cost_usd(), 6),
            "generator": self.source.stats() if hasattr(self, "source") else {},
            "filters": self.chain.stats(),
            "timings": {
                "elapsed_s": round(sum(_seconds(s.get("elapsed_s")) for s in sessions), 3),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            "sessions": sessions,
            "versions": {
                "teachkit": _version("teachkit"),
                "python": platform.python_version(),
                "llama_cpp_python": _version("llama-cpp-python"),
            },
        }

    def write_manifest(self, status: RunStatus) -> None:
        self.rundir.write_manifest(self.manifest(status))
