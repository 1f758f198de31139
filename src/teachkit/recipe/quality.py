"""The recipe's ``quality:`` section: what the quality panel measures at the end of a run.

The panel (:mod:`teachkit.quality`) is computed when a run completes and stored in
``manifest.json`` under ``quality``; ``teachkit report`` computes it on demand. Lexical metrics
always; embedding metrics as ``embeddings`` says (see docs/quality.md, "The panel of a run").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from teachkit.recipe.base import StrictModel
from teachkit.records import FieldRef

__all__ = ["QualityConfig"]


class QualityConfig(StrictModel):
    """``quality: {fields: [user, assistant], reference: real.jsonl, embeddings: auto}``"""

    #: compute the panel at the end of a complete run (and write report.html)
    enabled: bool = True
    #: the record fields measured; the first one is the report's main field (map, similarity)
    fields: list[FieldRef] = Field(default_factory=lambda: ["user", "assistant"], min_length=1)
    #: real data to compare with (relative to the recipe's folder); default: the export's
    #: ``validation`` file, else its ``mix_real`` file, else none
    reference: str | None = None
    #: embedding metrics: true, false, or auto (small runs that took a while, extra installed)
    embeddings: bool | Literal["auto"] = "auto"
    #: auto: at most this many texts per field (records plus reference) are encoded
    embed_limit: int = Field(default=500, ge=1)
    #: auto: only when the run's own time was at least this many seconds (so the encoder's
    #: load, about 10 s of CPU, never dominates a quick run)
    embed_min_run_seconds: float = Field(default=30.0, ge=0.0)
    #: seeds every sample (default: the recipe's seed)
    seed: int | None = None
    #: texts in the self-ROUGE-L sample, rows of each side in the MMD sample, k of the k-means
    rouge_sample: int = Field(default=1000, ge=2)
    mmd_sample: int = Field(default=1000, ge=2)
    clusters: int = Field(default=20, ge=1)
    #: write report.html at the end of a complete run
    report: bool = True

    @field_validator("fields")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each field once")
        return value
