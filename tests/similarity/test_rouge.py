"""ROUGE-L and the novelty decisions must equal rouge_score's, float for float."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from teachkit.similarity import novel_by_rouge_l, rouge_l
from teachkit.similarity import rouge as rouge_module
from teachkit.similarity.rouge import RougeLIndex, rouge_tokens

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference(a: str, b: str) -> float:
    return float(SCORER.score(a, b)["rougeL"].fmeasure)


def reference_loop(candidates: list[str], pool: list[str], threshold: float) -> list[bool]:
    """The Self-Instruct / Alpaca loop: one candidate at a time against the growing pool."""
    pool = list(pool)
    keep = []
    for candidate in candidates:
        scores = [reference(candidate, p) for p in pool]
        if scores and max(scores) > threshold:
            keep.append(False)
        else:
            keep.append(True)
            pool.append(candidate)
    return keep


def read_instructions(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["instruction"] for line in lines if line.strip()]


# a small vocabulary gives many shared tokens, so the scores spread over [0, 1]
WORDS = st.sampled_from(["the", "a", "cat", "Dog", "sat", "on", "mat", "7", "x-ray", "état", ""])
SEPARATORS = st.sampled_from([" ", "  ", ", ", "\n", "-", "_", "é", "!"])
phrases = st.lists(st.tuples(WORDS, SEPARATORS), max_size=14).map(
    lambda parts: "".join(w + s for w, s in parts)
)


@settings(max_examples=400, deadline=None)
@given(phrases, phrases)
def test_rouge_l_equals_rouge_score_on_overlapping_phrases(a: str, b: str) -> None:
    assert rouge_l(a, b) == reference(a, b)
    assert rouge_l(a, b) == rouge_l(b, a)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_rouge_l_equals_rouge_score_on_any_text(a: str, b: str) -> None:
    assert rouge_l(a, b) == reference(a, b)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_tokens_equal_rouge_score_tokenizer(text: str) -> None:
    assert rouge_tokens(text) == SCORER._tokenizer.tokenize(text)


def exact_point_seven_pairs() -> list[tuple[str, str]]:
    """Pairs whose exact F is 7/10 but whose float F is 0.7000000000000001."""
    pairs = []
    for m in range(1, 20):
        for n in range(1, 20):
            for lcs in range(1, min(m, n) + 1):
                p, r = lcs / m, lcs / n
                if Fraction(2 * lcs, m + n) == Fraction(7, 10) and 2 * p * r / (p + r) > 0.7:
                    shared = [f"w{i}" for i in range(lcs)]
                    a = shared + [f"a{i}" for i in range(m - lcs)]
                    b = shared + [f"b{i}" for i in range(n - lcs)]
                    pairs.append((" ".join(a), " ".join(b)))
    return pairs


def test_exact_point_seven_is_decided_like_rouge_score() -> None:
    pairs = exact_point_seven_pairs()
    assert pairs, "the float quirk should show up for small lengths"
    for a, b in pairs:
        assert rouge_l(a, b) == reference(a, b) > 0.7
        # the shortcut 2L/(m+n) would say exactly 0.7 and keep it; rouge_score drops it
        assert novel_by_rouge_l([a], [b]) == reference_loop([a], [b], 0.7) == [False]


@settings(max_examples=120, deadline=None)
@given(
    st.lists(phrases, max_size=25),
    st.lists(phrases, max_size=8),
    st.sampled_from([0.0, 0.5, 2 / 3, 0.7, 0.75, 1.0]),
)
def test_novelty_decisions_equal_the_one_at_a_time_loop(
    candidates: list[str], pool: list[str], threshold: float
) -> None:
    assert novel_by_rouge_l(candidates, pool, threshold) == reference_loop(
        candidates, pool, threshold
    )


def perturbed(texts: list[str], n: int, seed: int) -> list[str]:
    """Instruction-like candidates: recombinations and near-copies, so some are dropped."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choice(texts).split()
        kind = rng.random()
        if kind < 0.4:  # drop or swap a word or two: often a near-duplicate
            for _ in range(rng.randint(0, 2)):
                if len(words) > 1:
                    words.pop(rng.randrange(len(words)))
        elif kind < 0.8:  # splice two instructions
            other = rng.choice(texts).split()
            words = words[: len(words) // 2] + other[len(other) // 2 :]
        else:
            words = words + rng.choice(texts).split()[:3]
        out.append(" ".join(words))
    return out


def test_real_instructions_against_real_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = read_instructions("seed_tasks.jsonl")
    user = read_instructions("user_oriented_instructions.jsonl")
    candidates = perturbed(seeds + user, 70, seed=3) + user[:30]
    expected = reference_loop(candidates, seeds, 0.7)
    assert 0 < sum(expected) < len(expected)
    assert novel_by_rouge_l(candidates, seeds) == expected
    monkeypatch.setattr(rouge_module, "_BLOCK", 7)  # decisions across many block boundaries
    monkeypatch.setattr(rouge_module, "_CELLS", 50)  # and pool slices
    assert novel_by_rouge_l(candidates, seeds) == expected


def test_texts_become_int_lists_when_code_points_run_out(monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = read_instructions("seed_tasks.jsonl")[:40]
    candidates = perturbed(seeds, 40, seed=5)
    expected = reference_loop(candidates, seeds[:20], 0.7)
    monkeypatch.setattr(rouge_module, "_CODE_LIMIT", 60)
    index = RougeLIndex(seeds[:20])
    assert index.filter(candidates) == expected
    assert index._codec.widened
    probe = candidates[0]
    assert list(index.scores(probe)) == [reference(probe, t) for t in index.texts]


def test_index_scores_and_pool_growth() -> None:
    seeds = read_instructions("seed_tasks.jsonl")[:30]
    index = RougeLIndex(seeds)
    probe = "Give me a list of breakfast ideas without eggs but with protein."
    assert list(index.scores(probe)) == [reference(probe, s) for s in seeds]
    best, position = index.max_score(probe)
    assert best == max(reference(probe, s) for s in seeds)
    assert index.texts[position] in seeds
    keep = index.filter([probe, probe + " Quickly.", "Name three rivers in Africa."])
    assert keep == [True, False, True]
    assert len(index) == 32 and index.texts[-1] == "Name three rivers in Africa."


def test_empty_texts_and_empty_pool() -> None:
    assert rouge_l("", "anything") == 0.0
    assert rouge_l("!!!", "...") == 0.0
    assert RougeLIndex().max_score("hello there") == (0.0, -1)
    assert novel_by_rouge_l(["a b", "a b", "", ""], []) == [True, False, True, True]


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.6, 2 / 3, 0.7, 0.75, 0.8, 0.9, 1.0, -0.1])
def test_needed_lcs_table_matches_the_float_formula(threshold: float) -> None:
    needed = rouge_module._Needed(threshold)
    for n in range(0, 45):
        row = needed.row(n, 45)
        for m in range(0, 45):
            for lcs in range(0, min(n, m) + 1):
                above = rouge_module._fmeasure(lcs, max(n, 1), max(m, 1)) > threshold
                assert (lcs >= row[m]) == above, (n, m, lcs)
