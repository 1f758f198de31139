"""Seeded samples: the same whatever the batching, distinct per purpose and seed."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from teachkit.quality.sampling import StreamSample, sample_positions


@given(
    st.integers(0, 300),
    st.integers(0, 50),
    st.lists(st.integers(1, 40), min_size=1),
    st.integers(0, 3),
)
def test_a_streamed_sample_is_the_one_drawn_at_once(
    n: int, k: int, cuts: list[int], seed: int
) -> None:
    stream = StreamSample[int](k, seed, "test")
    start, i = 0, 0
    while start < n:
        size = cuts[i % len(cuts)]
        stream.add(list(range(start, min(n, start + size))))
        start += size
        i += 1
    positions, items = stream.result()
    expected = sample_positions(n, k, seed, "test")
    assert positions.tolist() == expected.tolist() == items
    assert len(expected) == min(n, k)


def test_samples_depend_on_seed_and_purpose_and_are_roughly_uniform() -> None:
    a = sample_positions(10_000, 1000, 0, "rouge")
    assert a.tolist() == sample_positions(10_000, 1000, 0, "rouge").tolist()
    assert len(set(a.tolist()) & set(sample_positions(10_000, 1000, 1, "rouge").tolist())) < 200
    assert len(set(a.tolist()) & set(sample_positions(10_000, 1000, 0, "mmd").tolist())) < 200
    counts = np.bincount(a // 1000, minlength=10)  # 100 expected per tenth of the stream
    assert counts.min() > 60 and counts.max() < 140
    assert np.all(np.diff(a) > 0)
