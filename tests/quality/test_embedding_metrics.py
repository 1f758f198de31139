"""Embedding metrics against their definitions computed the slow way."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from teachkit.quality.embedding import (
    Moments,
    dispersion,
    nearest_neighbours,
    neighbour_summary,
    repeat_clusters,
    unit_rows,
    vendi_score,
)


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).standard_normal((n, d)))


def slow_vendi(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    k = x @ x.T
    eigen = np.linalg.eigvalsh(k / len(x))
    eigen = eigen[eigen > 1e-12]
    return float(np.exp(-(eigen * np.log(eigen)).sum()))


def test_dispersion_is_the_mean_pairwise_cosine_distance() -> None:
    x = unit(30, 5)
    sims = x.astype(np.float64) @ x.T.astype(np.float64)
    off = ~np.eye(30, dtype=bool)
    assert dispersion(x) == pytest.approx(float((1 - sims[off]).mean()), abs=1e-9)
    assert dispersion(x[:1]) is None
    # two opposite vectors: distance 2; a vector and itself: 0
    assert dispersion([[1.0, 0.0], [-1.0, 0.0]]) == pytest.approx(2.0)
    assert dispersion([[3.0, 4.0], [6.0, 8.0]]) == pytest.approx(0.0, abs=1e-6)


def test_vendi_from_the_covariance_equals_the_kernel_form() -> None:
    for n, d in ((10, 4), (50, 8), (5, 20)):
        x = unit(n, d, seed=n)
        assert vendi_score(x) == pytest.approx(slow_vendi(x), rel=1e-6)


def test_vendi_hand_values() -> None:
    assert vendi_score(np.ones((7, 3))) == pytest.approx(1.0)  # all the same: one "mode"
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)  # orthogonal: n modes
    # two identical pairs of orthogonal vectors: 2 modes
    assert vendi_score([[1, 0], [1, 0], [0, 1], [0, 1]]) == pytest.approx(2.0)


@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.integers(1, 6)),
        elements=st.floats(-3, 3, width=32),
    )
)
def test_vendi_lies_between_one_and_n(x: np.ndarray) -> None:
    value = vendi_score(x)
    if not unit_rows(x).any():  # every row is zero (in float32)
        assert value is None
        return
    assert value is not None
    assert 1 - 1e-6 <= value <= min(len(x), x.shape[1]) + 1e-6


def test_streaming_moments_equal_one_pass() -> None:
    x = unit(100, 6)
    whole = Moments(6)
    whole.add(x)
    parts = Moments(6)
    for a in range(0, 100, 17):
        parts.add(x[a : a + 17])
    assert parts.dispersion() == pytest.approx(whole.dispersion(), abs=1e-12)
    assert parts.vendi() == pytest.approx(whole.vendi(), rel=1e-12)


def test_nearest_neighbours_match_brute_force() -> None:
    x = unit(300, 8, seed=2)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    best, where = nearest_neighbours(x)
    assert np.allclose(best, sims.max(axis=1), atol=1e-6)
    assert (where == sims.argmax(axis=1)).mean() > 0.99  # float ties aside
    queries = np.array([5, 17, 299])
    qbest, _ = nearest_neighbours(x, queries)
    assert np.allclose(qbest, sims.max(axis=1)[queries], atol=1e-6)


def test_repeat_clusters_join_chains_and_count_components() -> None:
    angles = np.radians([0, 10, 20, 90, 95, 180, 270])  # 0-10-20 chain, 90-95 pair, two alone
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    result = repeat_clusters(x, threshold=np.cos(np.radians(12)))
    assert result["clusters"] == 2
    assert result["clustered_records"] == 5
    assert result["largest_cluster"] == 3


def test_neighbour_summary_exact_and_sampled() -> None:
    x = unit(400, 6, seed=5)
    x = np.concatenate([x, x[:40]])  # 40 exact repeats: 80 records have a twin
    exact = neighbour_summary(x, threshold=0.999, exact_limit=10_000)
    assert exact is not None and exact["exact"]
    assert exact["repeat_share"] == pytest.approx(80 / 440)
    assert exact["clusters"] == 40 and exact["largest_cluster"] == 2
    assert exact["distance"]["quantiles"]["p0"] == pytest.approx(0.0, abs=1e-6)
    sampled = neighbour_summary(x, threshold=0.999, exact_limit=100, sample=200, seed=1)
    assert sampled is not None and not sampled["exact"] and sampled["queries"] == 200
    assert sampled["clusters"] is None
    lo, hi = sampled["repeat_share_interval"]
    assert lo <= 80 / 440 <= hi
    assert neighbour_summary(x[:1]) is None
