"""Vectors for the report's map and similarity histogram: PCA, hashed word vectors, neighbours.

The map is a 2-D PCA (numpy's SVD of the centred, stacked synthetic and real vectors) of the
embeddings when they are cached beside the run, else of **hashed word vectors**: each text's
unigrams and bigrams (the quality panel's tokens) hashed into 1,024 buckets, weighted by
``log(1 + count)`` times the inverse document frequency, scaled to unit length. Those are cheap
(no model) and good enough to show whether the synthetic texts cover the real ones.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from teachkit.quality.lexical import tokens

__all__ = ["hashed_vectors", "nearest_similarity", "pca_2d"]

F32 = npt.NDArray[np.float32]


def _bucket(gram: str, dim: int) -> int:
    digest = hashlib.blake2b(gram.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % dim


def hashed_vectors(texts: Sequence[str], dim: int = 1024) -> F32:
    """Unit-length TF-IDF vectors of hashed unigrams and bigrams (one row per text)."""
    counts = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        words = tokens(text)
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        for gram in grams:
            counts[row, _bucket(gram, dim)] += 1.0
    present = (counts > 0).sum(axis=0)
    idf = np.log((1 + len(texts)) / (1 + present)).astype(np.float32) + 1.0
    vectors = np.log1p(counts) * idf
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: F32 = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def pca_2d(vectors: F32) -> tuple[F32, list[float]]:
    """The first two principal components of ``vectors`` (rows) and the share of the variance
    each explains."""
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2), dtype=np.float32), [0.0, 0.0]
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    components = vt[:2]
    if components.shape[0] < 2:
        components = np.vstack([components, np.zeros_like(components)])
    projected = centred @ components.T
    total = float((singular**2).sum()) or 1.0
    shares = [float(s**2 / total) for s in singular[:2]] + [0.0] * (2 - len(singular[:2]))
    return projected.astype(np.float32), shares


def nearest_similarity(queries: F32, pool: F32, *, same: bool) -> F32:
    """Each query row's highest cosine similarity to a row of ``pool`` (unit rows); ``same``:
    the pool is the queries themselves, so a row's match with itself is skipped."""
    if not len(queries) or not len(pool) or (same and len(queries) < 2):
        return np.zeros(0, dtype=np.float32)
    best = np.full(len(queries), -1.0, dtype=np.float32)
    step = max(1, (1 << 22) // max(1, len(pool)))
    for start in range(0, len(queries), step):
        block = queries[start : start + step] @ pool.T
        if same:
            rows = np.arange(block.shape[0])
            block[rows, rows + start] = -np.inf
        best[start : start + len(block)] = block.max(axis=1)
    return np.clip(best, -1.0, 1.0)
