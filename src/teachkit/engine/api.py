"""The entry points: ``run`` (sync) and ``run_async``, and ``plan`` for dry runs."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.engine.export import check_export, export_for_recipe
from teachkit.engine.progress import ProgressSink
from teachkit.engine.runner import Runner
from teachkit.engine.session import Session
from teachkit.errors import RecipeError
from teachkit.formats.export import ExportSummary
from teachkit.recipe.load import load_recipe
from teachkit.recipe.models import Recipe
from teachkit.rundir.layout import RunDir
from teachkit.teachers.cost import estimate_cost, estimate_tokens, price_for
from teachkit.teachers.registry import backend_class

__all__ = ["DryRun", "RunSummary", "plan", "resolve_out", "run", "run_async"]

log = logging.getLogger("teachkit")


@dataclass
class RunSummary:
    """What a run did. ``status``: complete, already_complete, incomplete, exhausted, stopped."""

    run_dir: Path
    status: str
    message: str
    requested: int
    accepted: int
    rejected: int
    drops: dict[str, dict[str, int]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    #: the training files written by the recipe's export section (None without one)
    export: ExportSummary | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("complete", "already_complete")


def resolve_out(recipe: Recipe, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    if recipe.output.dir:
        return Path(recipe.output.dir)  # relative to the working directory, like --out
    return Path("runs") / recipe.name


def _summary(rundir: RunDir, manifest: dict[str, Any], status: str | None = None) -> RunSummary:
    return RunSummary(
        run_dir=rundir.path,
        status=status or manifest.get("status", "unknown"),
        message=manifest.get("message", ""),
        requested=int(manifest.get("requested", 0)),
        accepted=int(manifest.get("accepted", 0)),
        rejected=int(manifest.get("rejected", 0)),
        drops=manifest.get("drops", {}),
        manifest=manifest,
    )


def _exported(summary: RunSummary, recipe: Recipe) -> RunSummary:
    """Write the recipe's export section (if any) and say so in the summary's message."""
    summary.export = export_for_recipe(recipe, summary.run_dir)
    if summary.export is not None:
        summary.message = f"{summary.message} {summary.export.sentence()}".strip()
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
    rundir = RunDir(resolve_out(recipe, out))
    check_export(recipe)  # an export section that cannot be written fails before any work
    previous = rundir.read_manifest() if rundir.exists() else None
    spec = recipe.require_generator()
    if (
        previous
        and previous.get("status") == "complete"
        and previous.get("accepted", 0) >= int(spec.count)
    ):
        session = Session(recipe, rundir)
        session.check_recipe()
        previous = dict(previous)
        previous["message"] = (
            f"{rundir.path} already holds a complete run ({previous.get('accepted')} records); "
            "nothing to do. Raise generator.count to add more, or use another --out."
        )
        return _exported(_summary(rundir, previous, status="already_complete"), recipe)
    session = Session(recipe, rundir, use_cache=use_cache, cache_path=cache_path)
    try:
        session.open()
        await session.start()
        runner = Runner(session, progress)
        try:
            result = await runner.run()
        except asyncio.CancelledError:
            session.status, session.message = (
                "interrupted",
                "The run was interrupted; run again to resume.",
            )
            session.write_manifest(session.status)
            raise
        session.status, session.message = result.status, result.message
        session.write_manifest(result.status)
        if result.error is not None:
            raise result.error
        summary = _summary(rundir, session.manifest(result.status))
    finally:
        await session.close()
    # after close, so the lock is released: the export sees a complete run
    return _exported(summary, recipe) if summary.status == "complete" else summary


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
    per_request = max(1e-9, float(getattr(generator, "expected_yield", 1.0)))
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
