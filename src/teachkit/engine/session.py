"""One session of a run: open or resume the run directory, build the parts, write the manifest."""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from teachkit.engine.manifest import Tally
from teachkit.errors import BudgetExceededError, RunDirError
from teachkit.filters.base import FilterChain, FilterContext
from teachkit.generators.base import Generator, GeneratorContext, RestoreState
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.load import dump_recipe, recipe_hash
from teachkit.recipe.models import Recipe
from teachkit.rundir.layout import RunDir, atomic_write
from teachkit.rundir.store import Recovered, Store
from teachkit.teachers.cache import RequestCache
from teachkit.teachers.cost import estimate_cost
from teachkit.teachers.teacher import Teacher

__all__ = ["Session", "SessionResult"]

log = logging.getLogger("teachkit")


@dataclass
class SessionResult:
    status: str
    message: str
    error: BaseException | None = None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


@dataclass
class Session:
    recipe: Recipe
    rundir: RunDir
    use_cache: bool = True
    cache_path: str | None = None
    # built by open()
    store: Store = field(init=False)
    recovered: Recovered = field(init=False)
    tally: Tally = field(init=False)
    generator: Generator | None = field(init=False)
    chain: FilterChain = field(init=False)
    teachers: dict[str, Teacher] = field(default_factory=dict)
    followup_keys: set[str] = field(default_factory=set)
    accepted_ids: set[str] = field(default_factory=set)
    cache: RequestCache | None = None
    status: str = "running"
    message: str = ""
    started: float = field(default_factory=time.time)
    previous: dict[str, Any] = field(default_factory=dict)
    #: seconds from the first request to the last commit of this session (the generation call)
    generation_seconds: float = 0.0
    #: records wanted; default: the generator's count (``teachkit filter``: the input rows)
    target: int | None = None

    # --- derived settings -------------------------------------------------------------------
    @property
    def count(self) -> int:
        if self.target is None:
            self.target = int(self.recipe.require_generator().count)
        return self.target

    @property
    def max_requests(self) -> int:
        return self.recipe.run.max_requests or 5 * self.count + 50

    @property
    def window(self) -> int:
        teacher = self.teachers["teacher"]
        limit = teacher.backend.max_parallel
        size = self.recipe.teacher.max_concurrency
        return min(size, limit) if limit else size

    # --- setup ------------------------------------------------------------------------------
    def check_recipe(self) -> None:
        """A run directory holds one recipe: refuse to mix records of two."""
        path = self.rundir.recipe_path
        if not path.exists():
            return
        previous = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        old = previous.get("teachkit", {}).get("recipe_hash")
        new = recipe_hash(self.recipe)
        if old and old != new:
            raise RunDirError(
                f"{self.rundir.path} holds a run of a different recipe (hash {old}, this one is "
                f"{new}). Use another --out directory, or delete that one to start over."
            )

    def open(self) -> None:
        rundir = self.rundir
        # everything that can fail on configuration (a missing key, a bad model path) fails here,
        # before the run directory is touched
        self.teachers["teacher"] = Teacher(self.recipe.teacher, name="teacher", cache=None)
        self.chain = self._build_chain()
        spec = self.recipe.generator
        built = spec.build(self._context()) if spec is not None else None  # reads data files
        self.check_recipe()
        rundir.lock()
        self.previous = rundir.read_manifest() or {}
        resolved = dump_recipe(self.recipe)
        stamp = yaml.safe_dump({"teachkit": {"recipe_hash": recipe_hash(self.recipe)}})
        atomic_write(rundir.recipe_path, (resolved + stamp).encode())
        self.store = Store(rundir, fsync=self.recipe.run.fsync)
        self.recovered = self.store.recover()
        self.followup_keys = set(self.recovered.followups)
        self.tally = Tally.from_recovered(self.recovered)
        self.accepted_ids = {record.id for record in self.recovered.accepted}
        if self.use_cache and self.recipe.cache.enabled:
            path = self.cache_path or self.recipe.cache.path or rundir.default_cache_path
            self.cache = RequestCache(path)
            for teacher in self.teachers.values():
                teacher.cache = self.cache
        self.generator = self._restore(built) if built is not None else None

    def _context(self) -> GeneratorContext:
        t = self.teachers["teacher"]
        return GeneratorContext(
            recipe_name=self.recipe.name,
            recipe_hash=recipe_hash(self.recipe),
            seed=self.recipe.seed,
            teacher_backend=t.backend_id,
            teacher_model=t.model,
            capabilities=t.capabilities,
            sampling={"seed": self.recipe.seed, **self.recipe.teacher.sampling.as_options()},
            generation_depth=self.recipe.teacher.generation_depth,
            base_dir=self.recipe.base_dir,
            allowed_paths=self.recipe.allowed_paths,
        )

    def _restore(self, generator: Generator) -> Generator:
        r = self.recovered
        generator.restore(RestoreState(jobs=r.jobs, accepted=r.accepted, rejected=r.rejected))
        return generator

    def teacher_for(self, config: TeacherConfig | None, name: str) -> Teacher:
        """A shared Teacher for filters (e.g. the judge); None means the recipe's teacher."""
        if config is None:
            return self.teachers["teacher"]
        if name not in self.teachers:
            self.teachers[name] = Teacher(config, name=name, cache=self.cache)
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
        self.store.open(self.recovered.next_shard)

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
        """Spend of the whole run: this session's teachers plus what earlier sessions spent."""
        total = 0.0
        previous = self.previous.get("usage", {}).get("teachers", {})
        for name, teacher in self.teachers.items():
            if teacher.prices is None:
                continue
            before = previous.get(name, {})
            total += teacher.cost_usd + estimate_cost(
                int(before.get("prompt_tokens", 0)),
                int(before.get("completion_tokens", 0)),
                teacher.prices,
            )
        return total

    def check_budget(self) -> None:
        budget = self.recipe.run.budget_usd
        if budget is not None and self.cost_usd() >= budget:
            raise BudgetExceededError(
                f"The run spent ${self.cost_usd():.4f}, reaching its budget of ${budget:.4f}. "
                "It stopped cleanly; raise run.budget_usd (e.g. --set run.budget_usd=...) and run "
                "the same command again to continue."
            )

    # --- manifest ---------------------------------------------------------------------------
    def manifest(self, status: str) -> dict[str, Any]:
        tally = self.tally
        previous_teachers = self.previous.get("usage", {}).get("teachers", {})
        teachers: dict[str, Any] = {}
        for name, teacher in self.teachers.items():
            stats = teacher.stats()
            before = previous_teachers.get(name, {})
            for key in ("requests", "cached", "failed", "prompt_tokens", "completion_tokens"):
                stats[key] = int(stats.get(key, 0)) + int(before.get(key, 0))
            teachers[name] = stats
        sessions = list(self.previous.get("sessions", []))
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
            "status": status,
            "message": self.message,
            "recipe": self.recipe.name,
            "recipe_hash": recipe_hash(self.recipe),
            "requested": self.count,
            "accepted": tally.accepted,
            "rejected": tally.rejected,
            "funnel": tally.funnel(self.count),
            "drops": tally.drops_by_filter(),
            "usage": {"stages": tally.stages, "teachers": teachers, "by_model": tally.models},
            "cost_usd": round(self.cost_usd(), 6),
            "generator": self.generator.stats() if self.generator is not None else {},
            "filters": self.chain.stats(),
            "timings": {
                "elapsed_s": round(sum(float(s.get("elapsed_s", 0.0)) for s in sessions), 3),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            "sessions": sessions,
            "versions": {
                "teachkit": _version("teachkit"),
                "python": platform.python_version(),
                "llama_cpp_python": _version("llama-cpp-python"),
            },
        }

    def write_manifest(self, status: str) -> None:
        self.rundir.write_manifest(self.manifest(status))
