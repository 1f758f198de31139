"""What the quality panel measures and how: :class:`PanelConfig`, with the documented defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from teachkit.errors import RecipeError
from teachkit.records import FIELD_PATTERN

__all__ = ["PanelConfig"]


@dataclass(frozen=True)
class PanelConfig:
    """What the panel measures and how (every default is the documented one)."""

    #: the record field measured: user, assistant, system, text, reasoning or meta.<key>
    field: str = "user"
    #: seeds every sample (ROUGE-L, neighbours, MMD, k-means)
    seed: int = 0
    ngrams: tuple[int, ...] = (1, 2, 3)
    openers: tuple[int, ...] = (3, 5)
    top_openers: int = 10
    #: texts in the self-ROUGE-L sample
    rouge_sample: int = 1000
    #: compute the embedding metrics (needs vectors or the 'embed' extra)
    embed: bool = True
    #: texts per encoder call
    batch: int = 256
    #: cosine similarity at or above which two records repeat each other
    repeat_threshold: float = 0.9
    #: every pair is compared up to this many records; beyond, a sample of neighbour_sample
    neighbours_exact: int = 20_000
    neighbour_sample: int = 5_000
    mmd_sample: int = 1000
    mmd_permutations: int = 500
    #: k of the k-means on the reference, and the reference rows it is fitted on
    clusters: int = 20
    cluster_sample: int = 20_000
    #: declared axis values (e.g. the recipe's axes) for the axis coverage
    axes: Mapping[str, Sequence[str]] | None = None

    def __post_init__(self) -> None:
        problems = []
        if not re.match(FIELD_PATTERN, self.field):
            problems.append(
                f"field {self.field!r} is not user, assistant, system, text, "
                "reasoning or meta.<key>"
            )
        if not self.ngrams or min(self.ngrams) < 1:
            problems.append("ngrams must be sizes of at least 1")
        if self.openers and min(self.openers) < 1:
            problems.append("openers must be sizes of at least 1")
        if not 0 < self.repeat_threshold <= 1:
            problems.append("repeat_threshold must be in (0, 1]")
        for name in (
            "rouge_sample",
            "batch",
            "neighbour_sample",
            "mmd_sample",
            "clusters",
            "cluster_sample",
            "top_openers",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.mmd_permutations < 0 or self.neighbours_exact < 0:
            problems.append("mmd_permutations and neighbours_exact must not be negative")
        if problems:
            raise RecipeError("Invalid quality panel settings: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ngrams"], out["openers"] = list(self.ngrams), list(self.openers)
        out["axes"] = {k: list(v) for k, v in self.axes.items()} if self.axes else None
        return out
