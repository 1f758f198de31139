"""Model collapse: the Gaussian law derived in teachkit.quality.collapse, and the text loop."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from teachkit.quality import PanelBuilder, PanelConfig
from teachkit.quality.collapse import (
    collapse_law,
    digamma,
    gaussian_generations,
    log_sigma_step,
    text_generations,
)
from teachkit.quality.ngram import lm_tokens

EULER = 0.5772156649015329


def test_digamma_known_values() -> None:
    assert digamma(1) == pytest.approx(-EULER, abs=1e-12)
    assert digamma(0.5) == pytest.approx(-EULER - 2 * math.log(2), abs=1e-12)
    assert digamma(11) == pytest.approx(sum(1 / k for k in range(1, 11)) - EULER, abs=1e-12)


def test_the_step_is_about_minus_one_over_m() -> None:
    for m in (100, 1000, 10_000):
        assert log_sigma_step(m) == pytest.approx(-1 / m - 11 / (12 * m * m), rel=1e-3)
    law = collapse_law(100, 100)
    assert law["median_sigma"] == pytest.approx(0.3645, abs=5e-4)
    assert law["median_sigma_approx"] == pytest.approx(math.exp(-1))
    assert law["mean_sigma2"] == pytest.approx(0.99**100)


def test_the_simulated_median_follows_the_law_not_half_of_it() -> None:
    m, n = 10, 20
    sigmas = gaussian_generations(m, n, 4000, seed=0)
    assert sigmas.shape == (4000, n + 1) and (sigmas[:, 0] == 1).all()
    median = float(np.median(sigmas[:, n]))
    law = collapse_law(m, n)
    assert median == pytest.approx(law["median_sigma"], rel=0.07)  # 0.110
    assert abs(median / math.exp(-n / m) - 1) > 0.1  # exp(-n/M) = 0.135 is only the large-M form
    assert abs(median / math.exp(-n / (2 * m)) - 1) > 0.5  # exp(-n/2M) = 0.37 is wrong
    # at M = 100 the law and exp(-n/M) agree; the mean of sigma^2 is ((M-1)/M)^n
    sigmas = gaussian_generations(100, 20, 4000, seed=1)
    assert float(np.median(sigmas[:, 20])) == pytest.approx(
        collapse_law(100, 20)["median_sigma"], rel=0.03
    )
    assert float((sigmas[:, 20] ** 2).mean()) == pytest.approx(0.99**20, rel=0.05)


def test_accumulating_or_mixing_real_data_avoids_collapse() -> None:
    replace = gaussian_generations(50, 100, 500, seed=2)
    accumulate = gaussian_generations(50, 100, 500, seed=2, mode="accumulate")
    mix = gaussian_generations(50, 100, 500, seed=2, mode="mix", real_fraction=0.3)
    assert np.median(replace[:, -1]) < 0.2  # about exp(-2)
    assert np.median(accumulate[:, -1]) > 0.85
    assert np.median(mix[:, -1]) > 0.85


def lexical(samples: list[str]) -> dict[str, Any]:
    builder = PanelBuilder(PanelConfig(embed=False))
    builder.add_texts(samples)
    panel = builder.result()
    return {
        "distinct_2": panel["diversity"]["distinct"]["2"]["value"],
        "self_rouge_l": panel["diversity"]["self_rouge_l"]["mean_max"],
    }


def test_the_text_loop_loses_diversity_without_real_data(shared_data: Any) -> None:
    import json

    path = shared_data / "self-instruct" / "seed_tasks.jsonl"
    texts = [json.loads(line)["instruction"] for line in path.read_text().splitlines() if line]
    real = random.Random(0).sample(texts, 120)
    change: dict[float, list[tuple[float, float]]] = {0.0: [], 0.3: []}
    for fraction in change:
        for seed in range(3):
            rows = text_generations(
                real, generations=6, real_fraction=fraction, seed=seed, measure=lexical
            )
            first, last = rows[0], rows[-1]
            change[fraction].append(
                (
                    last["distinct_2"] - first["distinct_2"],
                    last["self_rouge_l"] - first["self_rouge_l"],
                )
            )
    d2_alone = np.mean([c[0] for c in change[0.0]])
    d2_mixed = np.mean([c[0] for c in change[0.3]])
    rouge_alone = np.mean([c[1] for c in change[0.0]])
    rouge_mixed = np.mean([c[1] for c in change[0.3]])
    assert d2_alone < 0 and rouge_alone > 0  # distinct-2 falls, self-ROUGE-L rises
    assert d2_alone < d2_mixed - 0.05
    assert rouge_alone > rouge_mixed + 0.03
    # the samples are the model's own: no token it never saw
    vocabulary = {tok for t in real for tok in lm_tokens(t)}
    rows = text_generations(
        real,
        generations=1,
        seed=0,
        measure=lambda s: {"tokens": {t for x in s for t in lm_tokens(x)}},
    )
    assert rows[1]["tokens"] <= vocabulary
