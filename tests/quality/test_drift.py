"""Drift metrics: JS divergences, MMD with its permutation test, k-means coverage."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from teachkit.quality.drift import (
    centroid_distance,
    cluster_coverage,
    js_divergence,
    kmeans,
    length_divergence,
    mmd_test,
    vocabulary_divergence,
)
from teachkit.quality.embedding import unit_rows
from teachkit.quality.lexical import LexicalStats, Vocabulary


def test_js_divergence_hand_values() -> None:
    assert js_divergence([1, 0], [0, 1]) == 1.0
    assert js_divergence([3, 1], [6, 2]) == 0.0  # counts are normalised
    # P = (1/2, 1/2), Q = (1, 0), M = (3/4, 1/4)
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    assert js_divergence([1, 1], [1, 0]) == pytest.approx((kl_p + kl_q) / 2, abs=1e-15)
    with pytest.raises(ValueError):
        js_divergence([1, 2], [1, 2, 3])


@given(
    st.lists(st.integers(0, 9), min_size=1, max_size=6).flatmap(
        lambda p: st.tuples(
            st.just(p), st.lists(st.integers(0, 9), min_size=len(p), max_size=len(p))
        )
    )
)
def test_js_divergence_is_symmetric_and_in_the_unit_interval(
    pq: tuple[list[int], list[int]],
) -> None:
    p, q = pq
    if sum(p) == 0 or sum(q) == 0:
        return
    value = js_divergence(p, q)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(js_divergence(q, p), abs=1e-12)


def test_length_and_vocabulary_divergence() -> None:
    assert length_divergence([3, 4, 5], [5, 4, 3]) == 0.0
    assert length_divergence([1, 1], [100, 100]) == 1.0
    assert length_divergence([], [1]) is None
    vocabulary = Vocabulary()
    a, b, c = (LexicalStats(vocabulary) for _ in range(3))
    a.add(["the cat sat", "a dog"])
    b.add(["a dog", "the cat sat"])
    c.add(["zebras run fast"])
    assert vocabulary_divergence(a, b) == 0.0
    assert vocabulary_divergence(a, c) == 1.0
    with pytest.raises(ValueError):
        vocabulary_divergence(a, LexicalStats())


def test_centroid_distance() -> None:
    assert centroid_distance([1, 0], [0, 2]) == pytest.approx(1.0)
    assert centroid_distance([1, 1], [2, 2]) == pytest.approx(0.0)
    assert centroid_distance([0, 0], [1, 0]) is None


def brute_mmd2(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    z = np.concatenate([x, y])
    dist = [np.linalg.norm(a - b) for a, b in itertools.combinations(z, 2)]
    sigma = float(np.median(dist))

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * sigma**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy, sigma


def test_mmd_equals_the_definition() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((5, 3)) + 0.5
    result = mmd_test(x, y, permutations=99, seed=1)
    assert result is not None
    expected, sigma = brute_mmd2(x, y)
    assert result["mmd2"] == pytest.approx(expected, abs=1e-12)
    assert result["bandwidth"] == pytest.approx(sigma, abs=1e-12)
    assert result["samples"] == [6, 5] and result["permutations"] == 99
    assert 1 / 100 <= result["p_value"] <= 1


def test_mmd_tells_shifted_samples_apart_and_not_equal_ones() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 5))
    same = rng.standard_normal((200, 5))
    shifted = rng.standard_normal((200, 5)) + 0.5
    far = mmd_test(x, shifted, permutations=200, seed=0)
    near = mmd_test(x, same, permutations=200, seed=0)
    assert far is not None and near is not None
    assert far["p_value"] == 1 / 201
    assert near["p_value"] > 0.05
    assert far["mmd2"] > 10 * abs(near["mmd2"])
    assert mmd_test(x, same, permutations=200, seed=0) == near  # seeded


@given(arrays(np.float64, st.tuples(st.integers(2, 15), st.just(3)), elements=st.floats(-5, 5)))
def test_mmd_of_a_sample_with_itself_is_about_zero(x: np.ndarray) -> None:
    result = mmd_test(x, x, permutations=20)
    assert result is not None
    # the unbiased estimate is -2 (1 - mean off-diagonal kernel) / m: at most 2/m below zero
    assert -2 / len(x) - 1e-9 <= result["mmd2"] <= 1e-9


def blobs(centres: list[float], per: int, seed: int, spread: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = np.repeat(np.radians(centres), per) + rng.normal(0, spread, per * len(centres))
    return unit_rows(np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1))


def test_kmeans_finds_separated_blobs_and_is_seeded() -> None:
    x = blobs([0, 120, 240], 30, seed=0)
    centroids, labels = kmeans(x, 3, seed=4)
    groups = [set(labels[i * 30 : (i + 1) * 30].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    again, labels_again = kmeans(x, 3, seed=4)
    assert np.array_equal(labels, labels_again) and np.array_equal(centroids, again)


def test_cluster_coverage_lists_the_lost_tail_with_an_example() -> None:
    reference = blobs([0, 120, 240], 40, seed=1)
    texts = [f"{name} {i}" for name in ("east", "north-west", "south-west") for i in range(40)]
    synthetic = blobs([0, 120], 60, seed=2)  # never reaches the 240-degree cluster
    result = cluster_coverage(reference, synthetic, k=3, seed=0, texts=texts)
    assert result is not None and result["k"] == 3
    assert result["reached_share"] == pytest.approx(2 / 3)
    assert len(result["missed"]) == 1
    lost = result["clusters"][result["missed"][0]]
    assert lost["synthetic_share"] == 0 and lost["reference_share"] == pytest.approx(1 / 3)
    assert lost["example"].startswith("south-west")
    assert result["total_variation"] == pytest.approx(1 / 3)
    assert sum(c["reference_share"] for c in result["clusters"]) == pytest.approx(1.0)
