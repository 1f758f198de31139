"""What the report of a run is drawn from: :class:`ReportData`, gathered by the engine.

The report (:mod:`teachkit.quality.report`) reads nothing itself; the engine
(:mod:`teachkit.engine.report`) reads the run directory and fills this in.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Example", "ReportData", "esc", "excerpt", "fmt", "pct"]

F32 = npt.NDArray[np.float32]


@dataclass
class Example:
    """A rejected record shown under its drop reason."""

    user: str
    assistant: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportData:
    run_dir: str
    manifest: dict[str, Any]
    #: (filter, reason) -> the first few rejected records
    examples: dict[tuple[str, str], list[Example]] = field(default_factory=dict)
    #: main-field texts of a seeded sample of the accepted records, and of the reference
    synthetic_texts: list[str] = field(default_factory=list)
    reference_texts: list[str] = field(default_factory=list)
    #: their vectors (unit rows), and what they are (embedding model or "hashed words")
    synthetic_vectors: F32 | None = None
    reference_vectors: F32 | None = None
    vectors_kind: str = ""
    #: axis name -> value -> count, and pair counts for the heat map
    axis_pairs: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    #: one row per generation of the lineage: {"generation", "path", "panel"} (this run last)
    generations: list[dict[str, Any]] = field(default_factory=list)
    created: str = ""
    version: str = ""

    @property
    def quality(self) -> dict[str, Any] | None:
        value = self.manifest.get("quality")
        return value if isinstance(value, dict) and value.get("fields") else None

    def panel(self, field_name: str | None = None) -> dict[str, Any] | None:
        quality = self.quality
        if quality is None:
            return None
        name = field_name or quality.get("main_field")
        panel = quality["fields"].get(name)
        return panel if isinstance(panel, dict) else None


# --- small formatting helpers shared by the report modules ---------------------------------
def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def excerpt(text: str, limit: int = 400) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.1e}"
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"
