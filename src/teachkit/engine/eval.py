"""``teachkit eval``: a student answers held-out prompts and a judge compares the answers.

::

    from teachkit.engine.eval import evaluate
    result = evaluate("runs/support", student=TeacherConfig(backend="llamacpp"), limit=50)

The **real** prompts come from ``eval_file`` (human-written prompts with reference answers), by
default from the real rows of the export's validation file (``RUN/dataset/validation.jsonl``,
real when the export had ``--validation``; ``metadata.jsonl`` says which rows are). The
**synthetic** prompts are the export's synthetic validation rows, or (when the export holds
none) a seeded sample of the run's accepted records. At most ``limit`` prompts per side (a
seeded sample). The judge defaults to the recipe's judge filter's teacher, else the recipe's
teacher. Writes ``RUN/eval.json`` and ``RUN/eval-answers.jsonl``, refreshes ``report.html``,
and answers every repeated request from the run's request cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Literal

import orjson

from teachkit.engine.report import REPORT_FILE, read_resolved_recipe, report
from teachkit.errors import DataError, RunDirError
from teachkit.formats.readers import read_records
from teachkit.quality.eval import EvalItem, Judged, judge_items, summarise
from teachkit.quality.sampling import sample_positions
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.models import Recipe
from teachkit.records import Record
from teachkit.rundir.layout import RunDir, atomic_write
from teachkit.rundir.store import read_accepted
from teachkit.teachers.cache import RequestCache
from teachkit.teachers.teacher import Teacher

__all__ = ["EVAL_ANSWERS", "EVAL_FILE", "evaluate", "evaluate_async"]

log = logging.getLogger("teachkit")

EVAL_FILE = "eval.json"
EVAL_ANSWERS = "eval-answers.jsonl"
SCHEMA_ID = "teachkit.eval/1"


def _item(record: Record, side: str) -> EvalItem | None:
    """The prompt (every turn before the last assistant turn) and the reference answer."""
    messages = list(record.messages)
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is not None:
        reference, prompt = messages[last]["content"], messages[:last]
    else:
        reference, prompt = record.chosen or "", messages
    if not any(m["role"] == "user" for m in prompt) or not reference.strip():
        return None
    groups: dict[str, str] = {}
    category = record.meta.get("category")
    if isinstance(category, str | int):
        groups["category"] = str(category)
    axes = record.meta.get("axes")
    if isinstance(axes, dict):
        groups.update({f"axis {k}": str(v) for k, v in axes.items()})
    return EvalItem(record.id, side, prompt, reference, groups)


def _sampled(records: list[Record], side: str, limit: int, seed: int) -> list[EvalItem]:
    items = [item for r in records if (item := _item(r, side)) is not None]
    return [items[int(i)] for i in sample_positions(len(items), limit, seed, f"eval-{side}")]


def _export_validation(run_dir: Path, recipe: Recipe | None) -> tuple[Path, list[Record]] | None:
    """The export's validation rows, each with meta.source from metadata.jsonl."""
    folder = run_dir / "dataset"
    if recipe is not None and recipe.export is not None and recipe.export.to:
        folder = run_dir / recipe.export.to
    path = folder / "validation.jsonl"
    if not path.is_file():
        return None
    records = list(read_records(path, source="real"))
    meta = folder / "metadata.jsonl"
    if meta.is_file():
        rows = [orjson.loads(line) for line in meta.read_bytes().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("split") == "validation"]
        if len(rows) == len(records):
            originals: dict[str, dict[str, dict[str, Any]]] = {}
            for record, row in zip(records, rows, strict=True):
                record.meta["source"] = row.get("source", "real")
                record.meta.update(_original_meta(row.get("origin"), originals))
    return path, records


def _original_meta(origin: Any, cache: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The category and axes of a real row, from the user's file it came from (the exported
    rows hold only what a trainer reads; metadata.jsonl says where each came from)."""
    if not isinstance(origin, dict) or not isinstance(origin.get("path"), str):
        return {}
    path = origin["path"]
    if path not in cache:
        cache[path] = {}
        if Path(path).is_file():
            for record in read_records(path):
                where = (record.meta.get("origin") or {}).get("line")
                cache[path][str(where)] = record.meta
    found = cache[path].get(str(origin.get("line")), {})
    return {k: found[k] for k in ("category", "axes") if k in found}


def _sides(
    run_dir: Path, recipe: Recipe | None, eval_file: str | Path | None, limit: int, seed: int
) -> tuple[dict[str, list[EvalItem]], dict[str, str]]:
    exported = _export_validation(run_dir, recipe)
    sources: dict[str, str] = {}
    real: list[Record] = []
    synthetic: list[Record] = []
    if eval_file is not None:
        real = list(read_records(eval_file, source="real"))
        sources["real"] = str(eval_file)
    if exported is not None:
        path, rows = exported
        if eval_file is None:
            real = [r for r in rows if r.meta.get("source") == "real"]
            sources["real"] = str(path)
        synthetic = [r for r in rows if r.meta.get("source") != "real"]
        sources["synthetic"] = f"{path} (synthetic rows)"
    if not synthetic:
        synthetic = list(read_accepted(run_dir))
        sources["synthetic"] = "accepted records (a sample; these are training data)"
    if not real:
        raise DataError(
            f"No real evaluation prompts for {run_dir}: pass --eval FILE (human-written prompts "
            "with reference answers, any readable row format), or export the run with a real "
            "validation file (teachkit export RUN --validation real.jsonl).",
            path=str(run_dir),
        )
    sides = {
        "real": _sampled(real, "real", limit, seed),
        "synthetic": _sampled(synthetic, "synthetic", limit, seed),
    }
    return {k: v for k, v in sides.items() if v}, sources


def _default_judge(recipe: Recipe | None) -> TeacherConfig:
    if recipe is None:
        return TeacherConfig()
    for spec in recipe.filters:
        if spec.kind == "judge" and getattr(spec, "teacher", None) is not None:
            config: TeacherConfig = spec.teacher  # type: ignore[attr-defined]
            return config
    return recipe.teacher


def _examples(results: list[Judged]) -> list[dict[str, Any]]:
    picked: list[dict[str, Any]] = []
    for outcome in ("loss", "win", "tie"):
        for judged in results:
            if judged.outcome == outcome and judged.item.side == "real":
                picked.append(
                    {
                        "prompt": judged.to_dict()["prompt"],
                        "answer": judged.answer or "",
                        "reference": judged.other or "",
                        "outcome": outcome + (" (orders disagree)" if judged.disagreement else ""),
                    }
                )
                break
    return picked


async def evaluate_async(
    run_dir: str | Path,
    *,
    student: TeacherConfig,
    judge: TeacherConfig | None = None,
    eval_file: str | Path | None = None,
    against: Literal["reference", "teacher"] = "reference",
    limit: int = 50,
    seed: int = 0,
    use_cache: bool = True,
    cache_path: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``student`` on the run's held-out prompts (see the module docstring)."""
    rundir = RunDir(run_dir)
    if rundir.read_manifest() is None:
        raise RunDirError(
            f"{rundir.path} holds no manifest.json; pass a run directory that `teachkit run` "
            "wrote.",
            path=str(rundir.path),
        )
    recipe = read_resolved_recipe(rundir.path)
    sides, sources = _sides(rundir.path, recipe, eval_file, limit, seed)
    judge_config = judge or _default_judge(recipe)
    started = time.perf_counter()
    rundir.lock()
    cache = None
    teachers: list[Teacher] = []
    try:
        if use_cache:
            cache = RequestCache(cache_path or rundir.default_cache_path)
        student_t = Teacher(student, name="student", cache=cache)
        judge_t = (
            student_t
            if judge_config == student
            else Teacher(judge_config, name="judge", cache=cache)
        )
        other_t = None
        if against == "teacher":
            other_t = Teacher(
                recipe.teacher if recipe else TeacherConfig(), name="teacher", cache=cache
            )
        teachers = [t for t in (student_t, judge_t, other_t) if t is not None]
        options = {"temperature": 0.0, "max_tokens": 256, **student.sampling.as_options()}
        options.pop("n", None)
        concurrency = max(1, min(student.max_concurrency, judge_config.max_concurrency, 16))
        items = [item for side in sides.values() for item in side]
        results = await judge_items(
            items, student_t, judge_t, other=other_t, options=options, concurrency=concurrency
        )
    finally:
        for teacher in {id(t): t for t in teachers}.values():
            await teacher.aclose()
        if cache is not None:
            cache.close()
        rundir.unlock()
    summary: dict[str, Any] = {"schema": SCHEMA_ID, "against": against, "seed": seed}
    summary["student"] = student_t.backend.describe()
    summary["judge"] = judge_t.backend.describe()
    summary["sides"] = {}
    for side in sides:
        part = [r for r in results if r.item.side == side]
        summary["sides"][side] = {"source": sources.get(side, ""), **summarise(part, seed=seed)}
    real_score = summary["sides"].get("real", {}).get("score", {}).get("value")
    syn_score = summary["sides"].get("synthetic", {}).get("score", {}).get("value")
    summary["gap"] = syn_score - real_score if None not in (real_score, syn_score) else None
    summary["interval"] = {
        "rates": "95% Wilson score intervals over judged prompts",
        "score": f"95% percentile bootstrap, 2000 resamples, seed {seed}",
    }
    summary["examples"] = _examples(results)
    summary["usage"] = {t.name: t.stats() for t in {id(t): t for t in teachers}.values()}
    summary["answers"] = EVAL_ANSWERS
    summary["seconds"] = round(time.perf_counter() - started, 3)
    lines = b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in results)
    atomic_write(rundir.path / EVAL_ANSWERS, lines)
    atomic_write(rundir.path / EVAL_FILE, orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    if (rundir.path / REPORT_FILE).exists() or rundir.read_manifest():
        report(rundir.path)
    return summary


def evaluate(run_dir: str | Path, **options: Any) -> dict[str, Any]:
    """Synchronous wrapper of :func:`evaluate_async` (same keyword options)."""
    return asyncio.run(evaluate_async(run_dir, **options))
