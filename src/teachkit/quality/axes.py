"""Coverage of the diversity axes a generator recorded in ``meta.axes``.

Per axis: how many records used each value, how many records lack the axis, and (when the
declared values are given, e.g. from the recipe) the declared values no record used. Over all
axes: the share of the cartesian product of the values that some record used. The product is
taken over the declared values when given, else over the values seen; a record counts towards a
combination only when it has every axis (with a declared value, when values are declared).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from teachkit.records import Record

__all__ = ["AxisCounter", "axis_coverage"]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


class AxisCounter:
    """Streaming counts of ``meta.axes`` values and combinations (memory: one entry per value
    and per distinct combination seen)."""

    def __init__(self, declared: Mapping[str, Sequence[str]] | None = None) -> None:
        self.declared = {k: [_value(v) for v in vs] for k, vs in (declared or {}).items()}
        self.records = 0
        self.with_axes = 0
        self.counts: dict[str, dict[str, int]] = {k: {} for k in self.declared}
        self._present: dict[str, int] = {}
        self._combinations: set[tuple[tuple[str, str], ...]] = set()
        self._names: tuple[str, ...] | None = tuple(sorted(self.declared)) or None

    def add(self, assignments: Iterable[Mapping[str, Any] | None]) -> None:
        for assignment in assignments:
            self.records += 1
            if not assignment:
                continue
            self.with_axes += 1
            for name, raw in assignment.items():
                if raw is None:
                    continue
                value = _value(raw)
                values = self.counts.setdefault(name, {})
                values[value] = values.get(value, 0) + 1
                self._present[name] = self._present.get(name, 0) + 1
            self._combinations.add(
                tuple(
                    (name, _value(raw))
                    for name, raw in sorted(assignment.items())
                    if raw is not None
                )
            )

    def add_records(self, records: Iterable[Record]) -> None:
        self.add(r.meta.get("axes") for r in records)

    def result(self) -> dict[str, Any] | None:
        """The coverage section of the panel; None when no record has axes and none are declared."""
        if not self.with_axes and not self.declared:
            return None
        names = sorted(self.counts)
        if self._names is not None:
            names = sorted(set(names) | set(self._names))
        axes: dict[str, Any] = {}
        sizes: list[int] = []
        for name in names:
            counts = self.counts.get(name, {})
            declared = self.declared.get(name)
            universe = declared if declared is not None else sorted(counts)
            sizes.append(len(universe))
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            axes[name] = {
                "values": [{"value": v, "count": c} for v, c in ordered],
                "distinct": len(counts),
                "declared": len(declared) if declared is not None else None,
                "unseen": [v for v in declared if v not in counts] if declared is not None else [],
                "undeclared": (
                    sorted(v for v in counts if v not in set(declared))
                    if declared is not None
                    else []
                ),
                "missing_records": self.records - self._present.get(name, 0),
            }
        allowed = {n: set(self.declared[n]) for n in self.declared}
        seen = 0
        for combo in self._combinations:
            pairs = dict(combo)
            if set(pairs) >= set(names) and all(
                name not in allowed or pairs[name] in allowed[name] for name in names
            ):
                seen += 1
        total = math.prod(sizes) if names else 0
        return {
            "records": self.records,
            "with_axes": self.with_axes,
            "axes": axes,
            "combinations": {
                "seen": seen,
                "total": total,
                "share": seen / total if total else None,
            },
        }


def axis_coverage(
    records: Iterable[Record], declared: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any] | None:
    """Axis coverage of ``records`` (see the module docstring)."""
    counter = AxisCounter(declared)
    counter.add_records(records)
    return counter.result()
