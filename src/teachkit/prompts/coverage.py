"""How much of each diversity axis, and of the combination space, a set of assignments used."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

__all__ = ["Coverage"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of each axis (and of the combination space) a set of assignments used."""

    #: axis -> value -> how many assignments used it (declared values first, 0 when unseen)
    counts: dict[str, dict[str, int]]
    #: axis -> number of declared values
    sizes: dict[str, int]
    combinations_seen: int
    combinations_total: int

    def fraction(self, axis: str) -> float:
        """Share of the axis's declared values seen at least once."""
        size = self.sizes[axis]
        declared = itertools.islice(self.counts[axis].values(), size)
        return sum(1 for c in declared if c) / size

    @property
    def combination_fraction(self) -> float:
        return self.combinations_seen / self.combinations_total if self.combinations_total else 1.0

    def summary(self) -> dict[str, Any]:
        """A compact, JSON-ready view for the run summary and manifest."""
        axes: dict[str, Any] = {}
        for axis, counts in self.counts.items():
            declared = list(itertools.islice(counts.values(), self.sizes[axis]))
            axes[axis] = {
                "values": self.sizes[axis],
                "seen": sum(1 for c in declared if c),
                "fraction": round(self.fraction(axis), 4),
                "min_count": min(declared),
                "max_count": max(declared),
            }
        return {
            "axes": axes,
            "combinations": {
                "seen": self.combinations_seen,
                "total": self.combinations_total,
                "fraction": round(self.combination_fraction, 6),
            },
        }
