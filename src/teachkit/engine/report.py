"""The quality panel of a run, its ``lineage.json`` and ``report.html``: library entry points.

* :func:`quality` computes the panel of a run directory and stores it in ``manifest.json``
  (key ``quality``);
* :func:`report` writes ``RUN/report.html`` (computing the panel first when it is missing);
* :func:`after_run` is what :func:`teachkit.engine.run` calls when a session ends: it writes
  ``lineage.json`` and, for a complete run, the panel and the report.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson
import yaml

from teachkit.errors import RunDirError
from teachkit.formats.readers import read_records
from teachkit.quality.encode import CachedEncoder
from teachkit.quality.lineage import LINEAGE_FILE, Lineage
from teachkit.quality.projection import hashed_vectors
from teachkit.quality.report import render_report
from teachkit.quality.reportdata import Example, ReportData
from teachkit.quality.runpanel import cache_path, field_texts, run_quality, shared_encoder
from teachkit.quality.sampling import StreamSample
from teachkit.recipe.load import parse_recipe
from teachkit.recipe.models import Recipe
from teachkit.recipe.quality import QualityConfig
from teachkit.records import Record
from teachkit.rundir.layout import RunDir, atomic_write
from teachkit.rundir.store import read_accepted, read_rejected

__all__ = ["REPORT_FILE", "after_run", "quality", "read_resolved_recipe", "report"]

log = logging.getLogger("teachkit")

REPORT_FILE = "report.html"
_EXAMPLES = 3
_MAP_SAMPLE = 1500


def read_resolved_recipe(run_dir: Path) -> Recipe | None:
    path = run_dir / "recipe.resolved.yaml"
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.pop("teachkit", None)
    try:
        return parse_recipe(data, str(path))
    except Exception as exc:  # a recipe of an older or newer teachkit: report without it
        log.info("cannot read %s (%s); the report uses defaults", path, exc)
        return None


def _reference_path(recipe: Recipe | None, run_dir: Path) -> Path | None:
    """The real data the panel compares with: quality.reference, else the export's validation
    file, else its mix_real file (relative to the recipe's folder)."""
    if recipe is None:
        return None
    base = Path(recipe.base_dir)
    candidates = [recipe.quality.reference]
    if recipe.export is not None:
        candidates += [recipe.export.validation, recipe.export.mix_real]
    for text in candidates:
        if text:
            path = Path(text).expanduser()
            path = path if path.is_absolute() else base / path
            if path.is_file():
                return path.resolve()
    return None


def _declared_axes(recipe: Recipe | None) -> dict[str, list[str]] | None:
    axes = getattr(recipe.generator, "axes", None) if recipe is not None else None
    if not isinstance(axes, dict):
        return None
    out = {k: [str(x) for x in v] for k, v in axes.items() if isinstance(v, list)}
    return out or None


def _manifest(rundir: RunDir) -> dict[str, Any]:
    manifest = rundir.read_manifest()
    if manifest is None:
        raise RunDirError(
            f"{rundir.path} holds no manifest.json; is it a teachkit run directory? Pass the "
            "directory that `teachkit run` wrote.",
            path=str(rundir.path),
        )
    return manifest


def quality(
    run_dir: str | Path,
    *,
    recipe: Recipe | None = None,
    reference: str | Path | None = None,
    embeddings: bool | None = None,
    run_seconds: float | None = None,
) -> dict[str, Any]:
    """Compute the quality panel of ``run_dir`` and store it in its manifest; returns it.

    ``reference``: real data to compare with (default: from the recipe, see docs/quality.md);
    ``embeddings``: force the embedding metrics on or off (default: ``quality.embeddings``).
    """
    rundir = RunDir(run_dir)
    manifest = _manifest(rundir)
    recipe = recipe or read_resolved_recipe(rundir.path)
    config = recipe.quality if recipe is not None else QualityConfig()
    ref_path = (
        Path(reference).resolve() if reference is not None else _reference_path(recipe, rundir.path)
    )
    if ref_path is None and isinstance(manifest.get("quality"), dict):
        old = (manifest["quality"].get("reference") or {}).get("path")
        ref_path = Path(old) if old and Path(old).is_file() else None
    records = list(read_accepted(rundir.path))
    real = list(read_records(ref_path)) if ref_path is not None else None
    panel = run_quality(
        records,
        real,
        config,
        run_dir=rundir.path,
        seed=recipe.seed if recipe is not None else 0,
        axes=_declared_axes(recipe),
        reference_path=str(ref_path) if ref_path is not None else None,
        run_seconds=run_seconds,
        embeddings=embeddings,
    )
    manifest = _manifest(rundir)  # re-read: keep whatever was written meanwhile
    manifest["quality"] = panel
    rundir.write_manifest(manifest)
    log.info("quality panel of %d records in %.2f s", len(records), panel["seconds"])
    return panel


# --- gathering the report's data -------------------------------------------------------------
def _examples(run_dir: Path) -> dict[tuple[str, str], list[Example]]:
    out: dict[tuple[str, str], list[Example]] = {}
    for rejection in read_rejected(run_dir):
        bucket = out.setdefault((rejection.filter, rejection.reason), [])
        if len(bucket) < _EXAMPLES:
            record = rejection.record
            bucket.append(Example(record.user, record.assistant, dict(rejection.detail)))
    return out


def _axis_pairs(records: list[Record]) -> dict[str, Any] | None:
    values: dict[str, Counter[str]] = {}
    for record in records:
        axes = record.meta.get("axes")
        if isinstance(axes, dict):
            for name, value in axes.items():
                values.setdefault(str(name), Counter())[str(value)] += 1
    if not values:
        return None
    names = sorted(values, key=lambda n: (-len(values[n]), n))[:2]
    ordered = {n: [v for v, _ in values[n].most_common()][:30] for n in names}
    if len(names) == 1:
        counts = [[float(values[names[0]][v]) for v in ordered[names[0]]]]
    else:
        a, b = names
        index = {(v, w): 0.0 for v in ordered[a] for w in ordered[b]}
        for record in records:
            axes = record.meta.get("axes") or {}
            key = (str(axes.get(a)), str(axes.get(b)))
            if key in index:
                index[key] += 1
        counts = [[index[(v, w)] for w in ordered[b]] for v in ordered[a]]
    return {"axes": names, "values": ordered, "counts": counts}


def _sample(records: list[Record], seed: int) -> list[Record]:
    sample = StreamSample[Record](_MAP_SAMPLE, seed, "report-map")
    sample.add(records)
    return sample.result()[1]


def _vectors(
    run_dir: Path, field: str, syn: list[str], real: list[str], embeddings: bool | None
) -> tuple[Any, Any, str]:
    """Embeddings from the run's cache (encoding the missing ones when ``embeddings`` is
    True), else hashed word vectors."""
    path = cache_path(run_dir, field)
    if path.is_file() or embeddings:
        try:
            cached = CachedEncoder(shared_encoder() if embeddings else _no_encoder, path)
            if embeddings:
                x: Any = cached(syn)
                y: Any = cached(real) if real else None
                cached.save()
            else:
                x, y = cached.lookup(syn), cached.lookup(real) if real else None
            if x is not None and (y is not None or not real):
                return x, y, f"{cached.model} embeddings of the {field} texts"
        except Exception as exc:  # a damaged cache or a missing extra: fall back, say why
            log.info("embeddings for the map are not available (%s); using hashed words", exc)
    vectors = hashed_vectors(syn + real)
    kind = f"hashed word and word-pair counts of the {field} texts (no embeddings cached)"
    return vectors[: len(syn)], (vectors[len(syn) :] if real else None), kind


def _no_encoder(texts: Any) -> Any:
    raise RuntimeError("not cached")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _generations(
    run_dir: Path, lineage: dict[str, Any] | None, manifest: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = []
    for ancestor in (lineage or {}).get("ancestors") or []:
        other = _read_json(Path(ancestor.get("path", "")) / "manifest.json") or {}
        panel = (other.get("quality") or {}).get("fields") or {}
        main = (other.get("quality") or {}).get("main_field")
        if main in panel:
            rows.append(
                {
                    "generation": ancestor.get("generation", 0),
                    "path": ancestor["path"],
                    "panel": panel[main],
                }
            )
    quality_panel = manifest.get("quality") or {}
    main = quality_panel.get("main_field")
    if main in (quality_panel.get("fields") or {}):
        rows.append(
            {
                "generation": (lineage or {}).get("generation", 0),
                "path": str(run_dir),
                "panel": quality_panel["fields"][main],
            }
        )
    rows.sort(key=lambda r: r["generation"])
    return rows


def _version() -> str:
    try:
        return version("teachkit")
    except PackageNotFoundError:
        return "?"


def report(
    run_dir: str | Path,
    *,
    refresh: bool = False,
    reference: str | Path | None = None,
    embeddings: bool | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write ``RUN/report.html`` (or ``out``) and return its path. The panel is computed first
    when the manifest has none, or when ``refresh`` (or a ``reference``) is given."""
    rundir = RunDir(run_dir)
    manifest = _manifest(rundir)
    if refresh or reference is not None or not isinstance(manifest.get("quality"), dict):
        quality(rundir.path, reference=reference, embeddings=embeddings)
        manifest = _manifest(rundir)
    recipe = read_resolved_recipe(rundir.path)
    seed = recipe.seed if recipe is not None else 0
    panel_info = manifest.get("quality") or {}
    field = panel_info.get("main_field") or "user"
    records = list(read_accepted(rundir.path))
    ref_path = (panel_info.get("reference") or {}).get("path")
    real = list(read_records(ref_path)) if ref_path and Path(ref_path).is_file() else []
    syn_texts = field_texts(_sample(records, seed), field)
    real_texts = field_texts(_sample(real, seed), field)
    x, y, kind = _vectors(rundir.path, field, syn_texts, real_texts, embeddings)
    lineage = _read_json(rundir.path / LINEAGE_FILE)
    data = ReportData(
        run_dir=str(rundir.path),
        manifest=manifest,
        examples=_examples(rundir.path),
        synthetic_texts=syn_texts,
        reference_texts=real_texts,
        synthetic_vectors=x,
        reference_vectors=y,
        vectors_kind=kind,
        axis_pairs=_axis_pairs(records),
        eval=_read_json(rundir.path / "eval.json"),
        lineage=lineage,
        generations=_generations(rundir.path, lineage, manifest),
        created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        version=_version(),
    )
    target = Path(out) if out is not None else rundir.path / REPORT_FILE
    atomic_write(target, render_report(data).encode("utf-8"))
    log.info("wrote %s", target)
    return target


def after_run(recipe: Recipe, run_dir: str | Path, status: str, lineage: Lineage) -> Path | None:
    """What a run does when a session ends: ``lineage.json`` always; for a complete run the
    quality panel (unless the manifest holds one from an earlier session that ended complete)
    and ``report.html``. Returns the report's path (None when none was written)."""
    rundir = RunDir(run_dir)
    if not rundir.path.is_dir():
        return None
    lineage.write(rundir.path)
    if status not in ("complete", "already_complete") or not recipe.quality.enabled:
        return None
    manifest = rundir.read_manifest() or {}
    fresh = status == "complete" or not isinstance(manifest.get("quality"), dict)
    if fresh:
        seconds = float((manifest.get("timings") or {}).get("elapsed_s") or 0.0)
        quality(rundir.path, recipe=recipe, run_seconds=seconds)
    target = rundir.path / REPORT_FILE
    if recipe.quality.report and (fresh or not target.exists()):
        return report(rundir.path)
    return target if target.exists() else None
