"""Self-ROUGE-L: how much the texts of a set repeat each other, with the exact fast ROUGE-L.

On a sample of ``S`` texts (ROUGE-L F-measure as ``rouge_score`` computes it, see
:mod:`teachkit.similarity.rouge`):

- ``mean_max``: the mean over the sampled texts of the highest ROUGE-L against the other sampled
  texts (the headline figure: how close a text's nearest lexical neighbour is);
- ``mean_pairwise``: the mean over all ``S (S - 1) / 2`` pairs.

Both grow with repetition; ``mean_max`` also grows with ``S`` (more texts, closer neighbours), so
compare figures taken at the same sample size. A text without a ROUGE token scores 0 with all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from teachkit.quality.lexical import quantile_dict
from teachkit.quality.sampling import sample_positions
from teachkit.similarity.rouge import RougeLIndex

__all__ = ["self_rouge_l"]

MAX_QUANTILES = (0.5, 0.9)


def self_rouge_l(
    texts: Sequence[str], *, sample: int | None = None, seed: int = 0
) -> dict[str, Any] | None:
    """Self-ROUGE-L of ``texts`` (all of them, or a seeded sample of ``sample``); None below two
    texts."""
    if sample is not None and sample < len(texts):
        texts = [texts[int(i)] for i in sample_positions(len(texts), sample, seed, "rouge")]
    if len(texts) < 2:
        return None
    index = RougeLIndex(texts)
    best = np.empty(len(texts), dtype=np.float64)
    pair_sum = 0.0
    for i, text in enumerate(texts):
        scores = index.scores(text)
        pair_sum += float(scores[i + 1 :].sum())
        scores[i] = -1.0
        best[i] = scores.max()
    size = len(texts)
    return {
        "sample": size,
        "mean_max": float(best.mean()),
        "mean_pairwise": pair_sum / (size * (size - 1) / 2),
        "max_quantiles": quantile_dict(best, MAX_QUANTILES),
    }
