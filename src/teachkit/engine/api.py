"""The entry points: ``run``/``run_async`` (generate), ``filter_data``/``filter_data_async``
(curate rows a user has), and ``plan`` for dry runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.engine.export import check_export, export_for_recipe
from teachkit.engine.progress import ProgressSink
from teachkit.engine.report import after_run
from teachkit.engine.runner import Runner
from teachkit.engine.session import Session
from teachkit.errors import DataError, RecipeError
from teachkit.formats.export import ExportSummary
from teachkit.formats.readers import read_records
from teachkit.quality.lineage import Lineage, plan_lineage
from teachkit.recipe.identity import run_identity
from teachkit.recipe.load import load_recipe
from teachkit.recipe.models import Recipe
from teachkit.rundir.layout import RunDir
from teachkit.rundir.state import RunStatus
from teachkit.teachers.cost import estimate_cost, estimate_tokens, price_for
from teachkit.teachers.registry import backend_class

__all__ = [
    "DryRun",
    "RunSummary",
    "filter_data",
    "filter_data_async",
    "plan",
    "resolve_out",
    "run",
    "run_async",
]

log = logging.getLogger("teachkit")


@dataclass
class RunSummary:
    """What a run did. ``status`` is a :class:`RunStatus` (a string: complete,
    already_complete, incomplete, exhausted, stopped, failed, interrupted)."""

    run_dir: Path
    status: RunStatus
    message: str
    requested: int
    accepted: int
    rejected: int
    drops: dict[str, dict[str, int]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    #: the training files written by the recipe's export section (None without one)
    export: ExportSummary | None = None
    #: report.html, written at the end of a complete run (None otherwise)
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status.ok


def resolve_out(recipe: Recipe, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    if recipe.output.dir:
        return Path(recipe.output.dir)  # relative to the working directory, like --out
    return Path("runs") / recipe.name


def _summary(session: Session, status: RunStatus, message: str) -> RunSummary:
    session.message = message
    manifest = session.manifest(status)
    return RunSummary(
        run_dir=session.rundir.path,
        status=status,
        message=message,
        requested=session.count,
        accepted=session.tally.accepted,
        rejected=session.tally.rejected,
        drops=session.tally.drops_by_filter(),
        manifest=manifest,
    )


def _exported(summary: RunSummary, recipe: Recipe, lineage: Lineage) -> RunSummary:
    """Write the recipe's export section (if any), the lineage, quality panel and report, and
    say so in the summary's message."""
    if summary.ok:
        summary.export = export_for_recipe(recipe, summary.run_dir)
    if summary.export is not None:
        summary.message = f"{summary.message} {summary.export.sentence()}".strip()
    summary.report = after_run(recipe, summary.run_dir, summary.status, lineage)
    if summary.report is not None:
        summary.message = f"{summary.message} Report: {summary.report}".strip()
    return summary


def _with_generation(recipe: Recipe, lineage: Lineage) -> Recipe:
    """The recipe with the lineage's generation as its teacher's depth (stamped on records)."""
    if recipe.teacher.generation_depth == lineage.generation:
        return recipe
    recipe = recipe.model_copy(deep=True)
    recipe.teacher.generation_depth = lineage.generation
    return recipe


def _nothing_to_do(session: Session, source: str | Path | None) -> RunSummary:
    path, tally = session.rundir.path, session.tally
    if source is not None:
        message = (
            f"{path} already holds this filtering of {source} ({tally.accepted} of "
            f"{session.count} rows kept); nothing to do."
        )
    else:
        message = (
            f"{path} already holds a complete run ({tally.accepted} records); nothing to do. "
            "Raise generator.count to add more, or use another --out."
        )
    if not session.rundir.manifest_path.exists():
        session.message = message
        session.write_manifest(RunStatus.COMPLETE)
    return _summary(session, RunStatus.ALREADY_COMPLETE, message)


async def _drive(
    session: Session, progress: ProgressSink | None, source: str | Path | None = None
) -> RunSummary:
    """Open the session, run it to its end, and record how it ended."""
    try:
        session.open()
        if session.already_complete:
            return _nothing_to_do(session, source)  # (the finally below closes the session)
        await session.start()
        runner = Runner(session, progress)
        try:
            result = await runner.run()
        except asyncio.CancelledError:
            session.end(RunStatus.INTERRUPTED, "The run was interrupted; run again to resume.")
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                session.end(RunStatus.FAILED, str(exc))
            raise
        session.end(result.status, result.message)
        if result.error is not None:
            raise result.error
        summary = _summary(session, result.status, result.message)
    finally:
        await session.close()
    return summary


async def run_async(
    recipe: Recipe | str | Path,
    out: str | Path | None = None,
    *,
    use_cache: bool = True,
    cache_path: str | None = None,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Run (or resume) a recipe into a run directory and return what happened."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe.require_generator()
    check_export(recipe)  # an export section that cannot be written fails before any work
    lineage = plan_lineage(recipe)  # the closed-loop guard, before the directory is touched
    recipe = _with_generation(recipe, lineage)
    session = Session(
        recipe,
        RunDir(resolve_out(recipe, out)),
        run_identity(recipe),
        use_cache=use_cache,
        cache_path=cache_path,
    )
    summary = await _drive(session, progress)
    # after close, so the lock is released: the export sees a complete run
    return _exported(summary, recipe, lineage)


def run(
    recipe: Recipe | str | Path,
    out: str | Path | None = None,
    *,
    use_cache: bool = True,
    cache_path: str | None = None,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Synchronous wrapper of :func:`run_async` (the one sync entry point)."""
    return asyncio.run(
        run_async(recipe, out, use_cache=use_cache, cache_path=cache_path, progress=progress)
    )


async def filter_data_async(
    source: str | Path,
    recipe: Recipe | str | Path,
    out: str | Path,
    *,
    use_cache: bool = True,
    cache_path: str | None = None,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Run ``recipe``'s filters over the rows of ``source`` into the run directory ``out``.

    The output is a run directory like :func:`run` makes (accepted/, rejected/ with reasons,
    manifest with the funnel): each row is a job of the same runner, so a killed curation
    resumes where it stopped, judge answers come from the cache, and a row identical to one
    already kept is dropped as a duplicate. Filtering another file into the same directory is
    refused.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    records = list(read_records(source, source="real"))
    if not records:
        raise DataError(f"{source} holds no rows to filter.", path=str(source))
    session = Session(
        recipe,
        RunDir(out),
        run_identity(recipe, mode="filter", source=source),
        use_cache=use_cache,
        cache_path=cache_path,
        rows=records,
    )
    return await _drive(session, progress, source)


def filter_data(
    source: str | Path,
    recipe: Recipe | str | Path,
    out: str | Path,
    *,
    use_cache: bool = True,
    cache_path: str | None = None,
    progress: ProgressSink | None = None,
) -> RunSummary:
    """Synchronous wrapper of :func:`filter_data_async`."""
    return asyncio.run(
        filter_data_async(
            source, recipe, out, use_cache=use_cache, cache_path=cache_path, progress=progress
        )
    )


@dataclass
class DryRun:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    sample_prompts: list[str]
    teacher: dict[str, Any]


def plan(recipe: Recipe) -> DryRun:
    """Estimate requests, tokens and cost without calling the teacher."""
    from teachkit.generators.base import GeneratorContext

    # the backend class, not an instance: a dry run needs no API key and loads no model
    cls = backend_class(recipe.teacher.backend)
    model = recipe.teacher.model or cls.default_model
    ctx = GeneratorContext(
        recipe_name=recipe.name,
        recipe_hash="dry-run",
        seed=recipe.seed,
        teacher_backend=cls.id,
        teacher_model=model,
        capabilities=cls.capabilities,
        sampling={"seed": recipe.seed, **recipe.teacher.sampling.as_options()},
        base_dir=recipe.base_dir,
        allowed_paths=recipe.allowed_paths,
    )
    spec = recipe.require_generator()
    generator = spec.build(ctx)
    count = int(spec.count)
    per_request = max(1e-9, float(generator.expected_yield))
    requests = max(1, round(count / per_request))
    sample_n = min(requests, 200)
    prompt_tokens = 0
    jobs = 0
    samples: list[str] = []
    for _ in range(sample_n):
        job = generator.next_job()
        if job is None:
            break
        req = job.request
        text = req.prompt or "\n".join(m["content"] for m in req.messages or [])
        if len(samples) < 3:
            samples.append(text)
        prompt_tokens += estimate_tokens(text)
        jobs += 1
    if not jobs:
        raise RecipeError("The generator produced no request; check the recipe.")
    prompt_total = int(prompt_tokens * requests / jobs)
    max_tokens = recipe.teacher.sampling.max_tokens or 256
    completion_total = int(requests * max_tokens * recipe.teacher.sampling.n)
    prices = price_for(cls.id, model, recipe.teacher.prices, local=cls.capabilities.local)
    cost = estimate_cost(prompt_total, completion_total, prices) if prices else None
    return DryRun(
        requests=requests,
        prompt_tokens=prompt_total,
        completion_tokens=completion_total,
        cost_usd=cost,
        sample_prompts=samples,
        teacher={"backend": cls.id, "model": model},
    )
