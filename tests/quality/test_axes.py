"""Axis coverage from meta.axes."""

from __future__ import annotations

from teachkit.quality.axes import axis_coverage
from teachkit.records import Record


def rec(axes: dict[str, object] | None, i: int) -> Record:
    meta = {"axes": axes} if axes is not None else {}
    return Record(messages=[{"role": "user", "content": f"text {i}"}], meta=meta)


def test_axis_coverage_counts_values_combinations_and_gaps() -> None:
    records = [
        rec({"tone": "calm", "topic": "tax"}, 0),
        rec({"tone": "calm", "topic": "tax"}, 1),
        rec({"tone": "angry", "topic": "tax"}, 2),
        rec({"tone": "calm"}, 3),  # lacks topic: no combination
        rec(None, 4),
    ]
    declared = {"tone": ["calm", "angry", "sad"], "topic": ["tax", "visa"]}
    result = axis_coverage(records, declared)
    assert result is not None
    assert result["records"] == 5 and result["with_axes"] == 4
    tone = result["axes"]["tone"]
    assert tone["values"] == [{"value": "calm", "count": 3}, {"value": "angry", "count": 1}]
    assert tone["unseen"] == ["sad"] and tone["declared"] == 3 and tone["missing_records"] == 1
    topic = result["axes"]["topic"]
    assert topic["unseen"] == ["visa"] and topic["missing_records"] == 2
    assert result["combinations"] == {"seen": 2, "total": 6, "share": 2 / 6}


def test_without_declared_values_the_product_of_seen_values_is_the_universe() -> None:
    records = [rec({"a": 1, "b": True}, 0), rec({"a": 2, "b": False}, 1)]
    result = axis_coverage(records)
    assert result is not None
    assert result["axes"]["b"]["values"] == [
        {"value": "false", "count": 1},
        {"value": "true", "count": 1},
    ]
    assert result["combinations"] == {"seen": 2, "total": 4, "share": 0.5}
    assert axis_coverage([rec(None, 0)]) is None
