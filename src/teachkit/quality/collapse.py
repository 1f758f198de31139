"""Model collapse, reproduced: Shumailov et al.'s Gaussian experiment and a text version.

**Gaussian.** Fit ``(mean, std)`` to ``M`` points by maximum likelihood (``np.std``, ddof=0),
sample ``M`` points from the fit, refit, and so on. With ``s_g`` the fitted std after ``g`` fits
(the first on ``M`` real points from N(0, 1)), ``M s_g^2 / s_{g-1}^2`` is chi-square with
``M - 1`` degrees of freedom, independently at each fit, so::

    log s_n = sum_{g=1..n} log(s_g / s_{g-1})
    E[log(s_g / s_{g-1})] = (psi((M-1)/2) + ln 2 - ln M) / 2

where ``psi`` is the digamma function. The step is ``-1/M - 11/(12 M^2) + O(M^-3)``: half of it is
the ddof=0 bias (``E[s^2] = (M-1)/M s^2``) and half the concavity of the log. As a sum of ``n``
independent terms ``log s_n`` is close to normal, so the median of ``s_n`` is
``exp(n * step)`` (about ``exp(-n/M)``), while its mean is larger (``E[s_n] = c^n`` with
``c = sqrt(2/M) Gamma(M/2) / Gamma((M-1)/2)``) and the mean of ``s_n^2`` is exactly
``((M-1)/M)^n``. :func:`collapse_law` gives these; :func:`gaussian_generations` simulates.

Variants that avoid collapse: ``accumulate`` fits each generation on all the data so far (the
real points and every generation's samples); ``mix`` keeps a share of the original real points in
every generation's data.

**Text.** :func:`text_generations` fits a word n-gram model (:class:`~teachkit.quality.ngram.
NgramModel`) on real texts, samples as many texts, refits on them, and so on, keeping a share of
real texts (a fresh seeded draw) in every generation's training data; each generation's samples
are measured by a caller-given function (e.g. the quality panel).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from teachkit.quality.ngram import NgramModel

__all__ = ["collapse_law", "digamma", "gaussian_generations", "log_sigma_step", "text_generations"]

F64 = npt.NDArray[np.float64]
Mode = Literal["replace", "accumulate", "mix"]
#: repetitions simulated per array (bounds memory: repetitions x M floats)
_CHUNK_CELLS = 1 << 22


def digamma(x: float) -> float:
    """The digamma function for ``x > 0`` (the recurrence up to 10, then the asymptotic
    series; absolute error below 1e-12)."""
    if x <= 0:
        raise ValueError("digamma is only computed here for positive x")
    result = 0.0
    while x < 10:
        result -= 1 / x
        x += 1
    inv = 1 / x
    inv2 = inv * inv
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return result + math.log(x) - 0.5 * inv - series


def log_sigma_step(m: int) -> float:
    """``E[log(s_g / s_{g-1})]`` for a refit on ``m`` points with ddof=0 (see the docstring)."""
    if m < 2:
        raise ValueError("a standard deviation needs at least 2 points")
    return 0.5 * (digamma((m - 1) / 2) + math.log(2) - math.log(m))


def collapse_law(m: int, n: int) -> dict[str, float]:
    """The expected figures after ``n`` fits on ``m`` points each (true sigma 1)."""
    step = log_sigma_step(m)
    c = math.exp(0.5 * math.log(2 / m) + math.lgamma(m / 2) - math.lgamma((m - 1) / 2))
    return {
        "median_sigma": math.exp(n * step),
        "median_sigma_approx": math.exp(-n / m),
        "median_sigma2": math.exp(2 * n * step),
        "mean_sigma": c**n,
        "mean_sigma2": ((m - 1) / m) ** n,
    }


def gaussian_generations(
    m: int,
    generations: int,
    repetitions: int,
    *,
    seed: int = 0,
    mode: Mode = "replace",
    real_fraction: float = 0.0,
) -> F64:
    """Fitted sigma of every generation: an array ``(repetitions, generations + 1)`` whose column
    0 is the true sigma (1) and column ``g`` the ``g``-th fit (the first on real points).

    ``replace``: each fit uses the previous fit's ``m`` samples alone. ``accumulate``: each fit
    uses every point so far (running sums, so memory stays flat). ``mix``: each fit uses
    ``round(real_fraction * m)`` of the original real points (a fresh subset each time) and the
    previous fit's samples for the rest.
    """
    if mode == "mix" and not 0 <= real_fraction <= 1:
        raise ValueError("real_fraction must be between 0 and 1")
    rng = np.random.Generator(np.random.PCG64(seed))
    out = np.empty((repetitions, generations + 1), dtype=np.float64)
    out[:, 0] = 1.0
    step = max(1, _CHUNK_CELLS // (m * (2 if mode == "mix" else 1)))
    for a in range(0, repetitions, step):
        b = min(repetitions, a + step)
        out[a:b, 1:] = _simulate(rng, m, generations, b - a, mode, real_fraction)
    return out


def _simulate(
    rng: np.random.Generator, m: int, generations: int, reps: int, mode: Mode, real_fraction: float
) -> F64:
    sigmas = np.empty((reps, generations), dtype=np.float64)
    real = rng.standard_normal((reps, m))
    data = real
    total = np.zeros(reps)
    squares = np.zeros(reps)
    count = 0
    keep = round(real_fraction * m)
    for g in range(generations):
        if mode == "accumulate":
            total += data.sum(axis=1)
            squares += np.einsum("ij,ij->i", data, data)
            count += m
            mean = total / count
            sigma = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
        else:
            mean = data.mean(axis=1)
            sigma = data.std(axis=1)  # ddof=0, as np.std: the maximum-likelihood fit
        sigmas[:, g] = sigma
        data = mean[:, None] + sigma[:, None] * rng.standard_normal((reps, m))
        if mode == "mix" and keep:
            picks = np.argsort(rng.random((reps, m)), axis=1)[:, :keep]
            data[:, :keep] = np.take_along_axis(real, picks, axis=1)
    return sigmas


def text_generations(
    real: Sequence[str],
    *,
    generations: int = 10,
    real_fraction: float = 0.0,
    size: int | None = None,
    order: int = 3,
    seed: int = 0,
    measure: Callable[[list[str]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Refit an n-gram model on its own samples ``generations`` times; measure every generation.

    Generation 0 is the model fitted on ``real``; generation ``g`` is fitted on
    ``round(real_fraction * size)`` real texts (a fresh seeded draw) plus the first samples of
    generation ``g - 1`` for the rest. Every generation samples ``size`` texts (default: as many as
    ``real``); the result lists ``measure(samples) | {"generation": g, "ngram_types": ...}``.
    """
    if not 0 <= real_fraction <= 1:
        raise ValueError("real_fraction must be between 0 and 1")
    count = size if size is not None else len(real)
    rng = random.Random(seed)
    keep = round(real_fraction * count)
    training = list(real)
    rows: list[dict[str, Any]] = []
    for g in range(generations + 1):
        model = NgramModel.fit(training, order)
        samples = model.sample(count, seed=rng.randrange(1 << 62))
        rows.append({"generation": g, "ngram_types": model.ngram_types(), **measure(samples)})
        kept = rng.sample(list(real), keep) if keep else []
        training = kept + samples[: count - keep]
    return rows
