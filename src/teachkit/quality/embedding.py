"""Embedding diversity: dispersion, the Vendi score, nearest neighbours and repeat clusters.

Every vector is scaled to unit length first, so a dot product is a cosine similarity (a zero
vector stays zero). Definitions (``x_i`` the unit vectors, ``n`` of them, ``s = sum x_i``):

- dispersion: the mean cosine distance ``1 - x_i . x_j`` over the ``n (n - 1)`` ordered pairs
  ``i != j``, computed exactly from the centroid identity
  ``sum_{i != j} x_i . x_j = |s|^2 - sum |x_i|^2`` (``= |s|^2 - n``);
- Vendi score (Friedman & Dieng 2023): ``exp(-sum l log l)`` over the eigenvalues ``l`` of
  ``K / n``, ``K_ij = x_i . x_j`` the cosine kernel. ``K / n = X X^T / n`` and ``X^T X / n``
  (``d x d``) have the same non-zero eigenvalues, so it is computed from the latter, exactly, in
  ``O(n d^2)``. It lies between 1 (all texts identical) and ``min(n, d)``;
- nearest neighbour: for a record, the largest cosine similarity to any other record (exact);
  its cosine distance is ``1 -`` that;
- repeat clusters: the connected components with two or more records of the graph joining two
  records whose cosine similarity is at least the threshold.

:class:`Moments` streams the first two (sum and ``X^T X`` in float64); the neighbour metrics need
all vectors at once and cost ``O(n^2 d)`` when exact (see :func:`neighbour_summary`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from teachkit.quality.lexical import quantile_dict
from teachkit.quality.sampling import sample_positions

__all__ = [
    "Moments",
    "as_unit",
    "dispersion",
    "nearest_neighbours",
    "neighbour_summary",
    "repeat_clusters",
    "unit_rows",
    "vendi_score",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: similarity cells computed at once (16 MiB of float32)
_CELLS = 1 << 22
#: rows per chunk when streaming a matrix through the moments
_ROWS = 8192
DISTANCE_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def unit_rows(vectors: npt.ArrayLike) -> F32:
    """The rows scaled to unit length (float32); zero rows stay zero."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: F32 = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return unit


def as_unit(vectors: npt.ArrayLike) -> F32:
    """The rows at unit length, without a copy when they already are (float32, C order, every
    norm within 1e-4 of 1 or 0: e.g. sentence-transformers' normalised embeddings)."""
    array = np.asarray(vectors)
    if array.dtype == np.float32 and array.ndim == 2 and array.flags.c_contiguous:
        unit = True
        for start in range(0, len(array), _ROWS):
            norms = np.linalg.norm(array[start : start + _ROWS], axis=1)
            if not np.all((np.abs(norms - 1) < 1e-4) | (norms == 0)):
                unit = False
                break
        if unit:
            return array
    return unit_rows(array)


class Moments:
    """Streaming sum and second moment of unit vectors: dispersion and Vendi, exactly."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.sum = np.zeros(dim, dtype=np.float64)
        self.gram = np.zeros((dim, dim), dtype=np.float64)
        self.squares = 0.0  # sum of |x_i|^2 (n, unless some vectors are zero)

    def add(self, unit: F32) -> None:
        for start in range(0, len(unit), _ROWS):
            chunk = unit[start : start + _ROWS].astype(np.float64)
            self.n += len(chunk)
            self.sum += chunk.sum(axis=0)
            self.gram += chunk.T @ chunk
            self.squares += float(np.einsum("ij,ij->", chunk, chunk))

    def dispersion(self) -> float | None:
        """Mean pairwise cosine distance (None below two vectors)."""
        if self.n < 2:
            return None
        pairs = self.n * (self.n - 1)
        mean_similarity = (float(self.sum @ self.sum) - self.squares) / pairs
        return min(2.0, max(0.0, 1.0 - mean_similarity))  # float rounding aside

    def vendi(self) -> float | None:
        """The Vendi score with the cosine kernel (None without vectors)."""
        if self.n == 0 or self.squares == 0:
            return None
        eigen = np.linalg.eigvalsh(self.gram / self.n)
        eigen = eigen[eigen > 1e-12]
        eigen = eigen / eigen.sum()  # trace(K/n) = 1 for unit vectors; rounding aside
        return float(np.exp(-(eigen * np.log(eigen)).sum()))

    def centroid(self) -> F64:
        return self.sum / max(self.n, 1)


def _moments(unit: F32) -> Moments:
    moments = Moments(unit.shape[1])
    moments.add(unit)
    return moments


def dispersion(vectors: npt.ArrayLike) -> float | None:
    """Mean pairwise cosine distance of the rows (exact; None below two rows)."""
    return _moments(unit_rows(vectors)).dispersion()


def vendi_score(vectors: npt.ArrayLike) -> float | None:
    """Vendi score of the rows with the cosine kernel (exact, from the d x d covariance)."""
    return _moments(unit_rows(vectors)).vendi()


def nearest_neighbours(unit: F32, queries: I64 | None = None) -> tuple[F32, I64]:
    """For each query row (default: every row), the cosine similarity of its nearest other row
    and that row's position (``-inf`` and -1 when there is no other row)."""
    n = len(unit)
    rows = np.arange(n, dtype=np.int64) if queries is None else np.asarray(queries, np.int64)
    best = np.full(len(rows), -np.inf, dtype=np.float32)
    where = np.full(len(rows), -1, dtype=np.int64)
    if n < 2 or not len(rows):
        return best, where
    cols = min(n, 1 << 14)
    step = max(1, _CELLS // cols)
    for a in range(0, len(rows), step):
        block = rows[a : a + step]
        queries_block = unit[block]
        for c in range(0, n, cols):
            sims = queries_block @ unit[c : c + cols].T
            own = (block >= c) & (block < c + cols)
            sims[np.flatnonzero(own), block[own] - c] = -np.inf
            arg = np.argmax(sims, axis=1)
            top = sims[np.arange(len(block)), arg]
            better = top > best[a : a + len(block)]
            best[a : a + len(block)][better] = top[better]
            where[a : a + len(block)][better] = arg[better] + c
    return best, where


def _compress(parent: I64) -> None:
    """Point every element straight at its root (pointer jumping)."""
    while True:
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            return
        parent[:] = jumped


def _union(parent: I64, u: I64, v: I64) -> None:
    """Merge the components of each pair (u, v): roots hook onto the smaller root until no
    pair crosses two components (parent[x] <= x throughout, so no cycle can form)."""
    while len(u):
        ru, rv = parent[u], parent[v]
        cross = ru != rv
        if not cross.any():
            return
        u, v, ru, rv = u[cross], v[cross], ru[cross], rv[cross]
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        _compress(parent)


def _all_pairs(unit: F32, threshold: float) -> tuple[F32, I64]:
    """Nearest-neighbour similarity of every row and the repeat-graph component of every row,
    from one pass over the upper triangle of the similarity matrix."""
    n = len(unit)
    best = np.full(n, -np.inf, dtype=np.float32)
    parent = np.arange(n, dtype=np.int64)
    step = max(1, _CELLS // max(n, 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        sims = unit[a:b] @ unit[a:].T
        lower = np.tril_indices(b - a)
        sims[lower] = -np.inf  # the pair (i, j) is visited once, with j > i
        np.maximum(best[a:b], sims.max(axis=1), out=best[a:b])
        np.maximum(best[a:], sims.max(axis=0), out=best[a:])
        rows, cols = np.nonzero(sims >= threshold)
        if len(rows):
            _union(parent, rows.astype(np.int64) + a, cols.astype(np.int64) + a)
    return best, parent


def repeat_clusters(vectors: npt.ArrayLike, threshold: float = 0.9) -> dict[str, Any]:
    """Exact repeat clusters (see the module docstring): ``O(n^2 d)`` time, flat memory."""
    unit = unit_rows(vectors)
    _best, labels = _all_pairs(unit, threshold)
    return _cluster_facts(labels) | {"threshold": threshold}


def _cluster_facts(labels: I64) -> dict[str, Any]:
    sizes = np.bincount(labels, minlength=len(labels)) if len(labels) else np.zeros(0, np.int64)
    repeated = sizes[sizes >= 2]
    return {
        "clusters": len(repeated),
        "clustered_records": int(repeated.sum()),
        "largest_cluster": int(repeated.max()) if len(repeated) else 0,
    }


def _wilson(hits: int, n: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval of a binomial share (95% by default)."""
    if n == 0:
        return [0.0, 1.0]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def neighbour_summary(
    unit: F32,
    *,
    threshold: float = 0.9,
    exact_limit: int = 20_000,
    sample: int = 5_000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Nearest-neighbour distances, the share of records with a repeat, and repeat clusters.

    Up to ``exact_limit`` records every pair is compared (exact, clusters counted). Beyond it a
    seeded sample of ``sample`` records is compared with every record: each sampled record's
    nearest neighbour is still exact, the share is an estimate with a 95% Wilson interval, and
    clusters are not counted (``None``; :func:`repeat_clusters` counts them at any size).
    """
    n = len(unit)
    if n < 2:
        return None
    exact = n <= exact_limit
    facts: dict[str, Any] = {"clusters": None, "clustered_records": None, "largest_cluster": None}
    if exact:
        best, labels = _all_pairs(unit, threshold)
        facts = _cluster_facts(labels)
    else:
        best, _where = nearest_neighbours(unit, sample_positions(n, sample, seed, "neighbours"))
    distance = 1.0 - best.astype(np.float64)
    hits = int((best >= threshold).sum())
    return {
        "exact": exact,
        "queries": len(best),
        "distance": {
            "mean": float(distance.mean()),
            "quantiles": quantile_dict(distance, DISTANCE_QUANTILES),
        },
        "threshold": threshold,
        "repeat_share": hits / len(best),
        "repeat_share_interval": None if exact else _wilson(hits, len(best)),
        **facts,
    }
