from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teachkit.formats.split import group_of, grouped_split, validation_target
from teachkit.records import Record


def _records(labels: list[int]) -> list[Record]:
    """One record per label; records with the same label form a similarity group."""
    records = []
    first: dict[int, str] = {}
    for i, label in enumerate(labels):
        record = Record(
            messages=[
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ]
        )
        if label in first:
            record.meta["group"] = first[label]
        else:
            first[label] = record.id  # the first member carries no "group": its id is the group
        records.append(record)
    return records


labels_st = st.lists(st.integers(min_value=0, max_value=30), min_size=0, max_size=120)
fraction_st = st.floats(min_value=0.0, max_value=0.95, allow_nan=False)
seed_st = st.integers(min_value=0, max_value=2**32)


@given(labels=labels_st, fraction=fraction_st, seed=seed_st)
def test_split_invariants(labels: list[int], fraction: float, seed: int) -> None:
    records = _records(labels)
    split = grouped_split(records, fraction, seed)
    # every record lands on exactly one side
    assert sorted(r.id for r in split.train + split.validation) == sorted(r.id for r in records)
    # no group straddles train and validation
    train_groups = {group_of(r) for r in split.train}
    assert train_groups.isdisjoint(group_of(r) for r in split.validation)
    # validation never exceeds the target; a train group is left out only because it did not fit
    target = validation_target(len(records), fraction)
    room = target - len(split.validation)
    assert room >= 0
    sizes: dict[str, int] = {}
    for record in split.train:
        sizes[group_of(record)] = sizes.get(group_of(record), 0) + 1
    assert all(size > room for size in sizes.values())
    if len(records) >= 2:
        assert split.train  # train is never empty
    # the same seed gives the same split, whatever the input order
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    again = grouped_split(shuffled, fraction, seed)
    assert [r.id for r in again.train] == [r.id for r in split.train]
    assert [r.id for r in again.validation] == [r.id for r in split.validation]


@given(n=st.integers(min_value=0, max_value=400), fraction=fraction_st, seed=seed_st)
def test_singleton_groups_hit_the_fraction_within_one_record(
    n: int, fraction: float, seed: int
) -> None:
    split = grouped_split(_records(list(range(n))), fraction, seed)
    assert len(split.validation) == validation_target(n, fraction)
    assert abs(len(split.validation) - fraction * n) <= 1
    if fraction > 0 and n >= 2:
        assert split.validation


@settings(max_examples=50)
@given(
    n=st.integers(min_value=40, max_value=120),
    seeds=st.lists(seed_st, min_size=2, max_size=2, unique=True),
)
def test_different_seeds_give_different_splits(n: int, seeds: list[int]) -> None:
    records = _records(list(range(n)))
    first, second = (grouped_split(records, 0.5, seed) for seed in seeds)
    assert {r.id for r in first.validation} != {r.id for r in second.validation}


def test_validation_target_rule() -> None:
    assert validation_target(100, 0.1) == 10
    assert validation_target(25, 0.1) == 3  # 2.5 rounds up
    assert validation_target(3, 0.1) == 1  # at least one record when asked for a fraction
    assert validation_target(3, 0.9) == 2  # at least one record stays in train
    assert validation_target(1, 0.5) == 0
    assert validation_target(50, 0.0) == 0
    with pytest.raises(ValueError):
        validation_target(10, 1.0)


def test_one_big_group_stays_whole() -> None:
    labels = [0] * 30 + list(range(1, 11))
    split = grouped_split(_records(labels), 0.5, seed=3)
    # 20 records are wanted, the 30-record group cannot fit, so all ten singletons go
    assert len(split.validation) == 10
    assert {group_of(r) for r in split.train} == {_records(labels)[0].id}
