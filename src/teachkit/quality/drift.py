"""Drift of a synthetic set from a real reference: divergences, MMD, and cluster coverage.

- Jensen-Shannon divergence ``JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2``, ``M = (P + Q) / 2``,
  in bits, so it lies in [0, 1]. (scipy's ``jensenshannon`` returns its square root, the JS
  *distance*; this is the divergence.) Lengths are compared over the shared bins of
  :func:`~teachkit.quality.lexical.length_edges`, vocabularies over unigram counts of the shared
  vocabulary.
- Centroid distance: the cosine distance between the means of the two sets of unit vectors.
- MMD (Gretton et al. 2012): the unbiased estimate of the squared maximum mean discrepancy with
  the RBF kernel ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2))``, ``sigma`` the median distance between
  distinct points of the pooled sample (the median heuristic), on seeded samples of each side;
  its p-value comes from a permutation test, ``(1 + #{T_b >= T}) / (1 + B)`` over ``B`` random
  relabellings of the pooled sample.
- Cluster coverage: k-means (k-means++ seeding, seeded; Lloyd's iterations) on the reference's
  unit vectors; every record of both sides goes to its nearest centroid; per cluster the share of
  reference and of synthetic records. A cluster that no synthetic record reaches is a lost tail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from teachkit.quality.lexical import LexicalStats, histogram, length_edges
from teachkit.quality.sampling import sample_positions

__all__ = [
    "centroid_distance",
    "cluster_coverage",
    "js_divergence",
    "kmeans",
    "length_divergence",
    "mmd_test",
    "vocabulary_divergence",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: permutations evaluated per matrix product
_PERM_CHUNK = 128


def js_divergence(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence in bits of two count (or probability) vectors of equal length."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"the distributions differ in length: {a.shape} and {b.shape}")
    if a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("a distribution with no mass has no divergence")
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: F64) -> float:
        mask = x > 0
        return float((x[mask] * np.log2(x[mask] / m[mask])).sum())

    return min(1.0, max(0.0, (kl(a) + kl(b)) / 2))


def length_divergence(a: npt.ArrayLike, b: npt.ArrayLike) -> float | None:
    """JS divergence of two length histograms over shared bins (None if a side is empty)."""
    x, y = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if not len(x) or not len(y):
        return None
    edges = length_edges(int(max(x.max(), y.max())))
    return js_divergence(histogram(x, edges), histogram(y, edges))


def vocabulary_divergence(a: LexicalStats, b: LexicalStats) -> float | None:
    """JS divergence of the unigram distributions of two sides sharing one vocabulary."""
    if a.vocabulary is not b.vocabulary:
        raise ValueError("the two sides must share one Vocabulary")
    if not a.token_total or not b.token_total:
        return None
    size = max(len(a.unigrams), len(b.unigrams))
    pa = np.pad(a.unigrams, (0, size - len(a.unigrams)))
    pb = np.pad(b.unigrams, (0, size - len(b.unigrams)))
    return js_divergence(pa, pb)


def centroid_distance(a_mean: npt.ArrayLike, b_mean: npt.ArrayLike) -> float | None:
    """Cosine distance of two centroids (None when one is zero)."""
    x, y = np.asarray(a_mean, np.float64), np.asarray(b_mean, np.float64)
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return None
    return float(1.0 - (x @ y) / (nx * ny))


def _squared_distances(z: F64) -> F64:
    norms = np.einsum("ij,ij->i", z, z)
    d2: F64 = norms[:, None] + norms[None, :] - 2 * (z @ z.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


def mmd_test(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    sample: int = 1000,
    permutations: int = 500,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Unbiased MMD^2 (RBF kernel, median heuristic) of seeded samples of ``x`` and ``y`` and
    its permutation p-value (see the module docstring); None when a side has fewer than 2 rows."""
    xa, ya = np.asarray(x), np.asarray(y)  # sampled before any copy: x may be large
    if len(xa) < 2 or len(ya) < 2:
        return None
    xs = xa[sample_positions(len(xa), sample, seed, "mmd-synthetic")].astype(np.float64)
    ys = ya[sample_positions(len(ya), sample, seed, "mmd-reference")].astype(np.float64)
    m, n = len(xs), len(ys)
    d2 = _squared_distances(np.concatenate([xs, ys]))
    upper = d2[np.triu_indices(m + n, 1)]
    median = float(np.median(upper))
    sigma = float(np.sqrt(median)) if median > 0 else 1.0
    kernel = np.exp(-d2 / (2 * sigma * sigma))
    del d2, upper
    row_sums = kernel.sum(axis=1)
    total = float(row_sums.sum())

    def statistics(ind: F64) -> F64:
        """Unbiased MMD^2 of each column's split (1: first side) of the pooled sample."""
        xkx = np.einsum("ij,ij->j", ind, kernel @ ind)
        xk1 = row_sums @ ind
        sxx = xkx - m  # the kernel's diagonal is 1: drop the i == j terms
        syy = total - 2 * xk1 + xkx - n
        sxy = xk1 - xkx
        result: F64 = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)
        return result

    labels = np.zeros((m + n, 1))
    labels[:m] = 1.0
    observed = float(statistics(labels)[0])
    rng = np.random.Generator(np.random.PCG64(seed))
    exceed = 0
    done = 0
    while done < permutations:
        count = min(_PERM_CHUNK, permutations - done)
        order = np.argsort(rng.random((m + n, count)), axis=0)
        ind = (order < m).astype(np.float64)
        exceed += int((statistics(ind) >= observed - 1e-12).sum())
        done += count
    return {
        "mmd2": observed,
        "p_value": (1 + exceed) / (1 + permutations),
        "bandwidth": sigma,
        "samples": [m, n],
        "permutations": permutations,
    }


def _nearest_centroid(unit: F32, centroids: F32) -> I64:
    """Position of the nearest centroid (Euclidean) of each row, in chunks."""
    half = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty(len(unit), dtype=np.int64)
    for start in range(0, len(unit), 8192):
        scores = unit[start : start + 8192] @ centroids.T - half[None, :]
        out[start : start + 8192] = np.argmax(scores, axis=1)
    return out


def kmeans(unit: F32, k: int, *, seed: int = 0, iterations: int = 100) -> tuple[F32, I64]:
    """Seeded k-means (k-means++ seeding, then Lloyd's iterations until no label changes): the
    centroids and each row's cluster. An emptied cluster restarts at the row farthest from its
    centroid."""
    n = len(unit)
    k = max(1, min(k, n))
    rng = np.random.Generator(np.random.PCG64(seed))
    data = np.asarray(unit, dtype=np.float32)
    centroids = np.empty((k, data.shape[1]), dtype=np.float32)
    centroids[0] = data[rng.integers(n)]
    d2 = np.maximum(((data - centroids[0]) ** 2).sum(axis=1), 0).astype(np.float64)
    for c in range(1, k):
        total = d2.sum()
        pick = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centroids[c] = data[pick]
        np.minimum(d2, ((data - centroids[c]) ** 2).sum(axis=1), out=d2)
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(iterations):
        fresh = _nearest_centroid(data, centroids)
        if np.array_equal(fresh, labels):
            break
        labels = fresh
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros((k, data.shape[1]), dtype=np.float64)
        np.add.at(sums, labels, data)
        for empty in np.flatnonzero(counts == 0).tolist():
            far = ((data - centroids[labels]) ** 2).sum(axis=1)
            sums[empty] = data[int(np.argmax(far))]
            counts[c] = 1
        centroids = (sums / counts[:, None]).astype(np.float32)
    return centroids, labels


def cluster_coverage(
    reference: F32,
    synthetic: F32,
    *,
    k: int = 20,
    seed: int = 0,
    sample: int = 20_000,
    texts: Sequence[str] | None = None,
    text_positions: I64 | None = None,
    under: float = 0.25,
) -> dict[str, Any] | None:
    """How the synthetic records spread over the reference's k-means clusters.

    k-means runs on a seeded sample of ``sample`` reference rows; every row of both sides is
    then assigned. ``texts`` (at ``text_positions`` of the reference; default every row) give
    each cluster an example: the text nearest its centroid. A cluster is ``missed`` when no
    synthetic record falls in it and ``under`` represented when its synthetic share is below
    ``under`` times its reference share.
    """
    if len(reference) < 2 or not len(synthetic):
        return None
    fit_rows = sample_positions(len(reference), sample, seed, "kmeans")
    centroids, _ = kmeans(reference[fit_rows], k, seed=seed)
    ref_labels = _nearest_centroid(reference, centroids)
    syn_labels = _nearest_centroid(synthetic, centroids)
    count = len(centroids)
    ref_share = np.bincount(ref_labels, minlength=count) / len(reference)
    syn_counts = np.bincount(syn_labels, minlength=count)
    syn_share = syn_counts / len(synthetic)
    examples: list[str | None] = [None] * count
    if texts is not None:
        where = np.arange(len(texts)) if text_positions is None else np.asarray(text_positions)
        vectors = reference[where]
        labels = ref_labels[where]
        sims = vectors @ centroids.T
        for c in range(count):
            members = np.flatnonzero(labels == c)
            if len(members):
                examples[c] = texts[int(members[int(np.argmax(sims[members, c]))])]
    order = sorted(range(count), key=lambda c: (-ref_share[c], c))
    rows = [
        {
            "cluster": rank,
            "reference_share": float(ref_share[c]),
            "synthetic_share": float(syn_share[c]),
            "ratio": float(syn_share[c] / ref_share[c]) if ref_share[c] > 0 else None,
            "example": examples[c],
        }
        for rank, c in enumerate(order)
    ]
    missed = [rank for rank, c in enumerate(order) if syn_counts[c] == 0 and ref_share[c] > 0]
    under_rows = [
        rank
        for rank, c in enumerate(order)
        if ref_share[c] > 0 and syn_share[c] < under * ref_share[c]
    ]
    return {
        "k": count,
        "fitted_on": len(fit_rows),
        "reached_share": float(ref_share[syn_counts > 0].sum()),
        "total_variation": float(0.5 * np.abs(ref_share - syn_share).sum()),
        "missed": missed,
        "under": under_rows,
        "under_factor": under,
        "clusters": rows,
    }
