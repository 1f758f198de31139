"""Self-ROUGE-L against the pairwise definition with rouge_score's own scorer."""

from __future__ import annotations

import itertools

import pytest
from rouge_score import rouge_scorer

from teachkit.quality.rouge import self_rouge_l

CORPUS = [
    "Write a poem about the sea.",
    "Write a short poem about the sea at night.",
    "Explain how a bicycle works.",
    "List three prime numbers.",
    "Explain how a car engine works.",
    "!!!",
]


def test_self_rouge_l_matches_rouge_score_pairwise() -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    def f(a: str, b: str) -> float:
        return float(scorer.score(a, b)["rougeL"].fmeasure)

    result = self_rouge_l(CORPUS)
    assert result is not None
    best = [max(f(a, b) for j, b in enumerate(CORPUS) if j != i) for i, a in enumerate(CORPUS)]
    pairs = [f(a, b) for a, b in itertools.combinations(CORPUS, 2)]
    assert result["sample"] == len(CORPUS)
    assert result["mean_max"] == pytest.approx(sum(best) / len(best), abs=1e-12)
    assert result["mean_pairwise"] == pytest.approx(sum(pairs) / len(pairs), abs=1e-12)


def test_identical_texts_score_one_and_tiny_sets_none() -> None:
    result = self_rouge_l(["same text here"] * 4)
    assert result is not None and result["mean_max"] == 1.0 and result["mean_pairwise"] == 1.0
    assert self_rouge_l(["alone"]) is None


def test_a_sample_is_seeded() -> None:
    corpus = [f"text number {i} about topic {i % 7}" for i in range(200)]
    a = self_rouge_l(corpus, sample=50, seed=3)
    assert a is not None and a["sample"] == 50
    assert a == self_rouge_l(corpus, sample=50, seed=3)
    assert a != self_rouge_l(corpus, sample=50, seed=4)
