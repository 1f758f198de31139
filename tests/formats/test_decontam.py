from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from teachkit.formats.decontam import Decontaminator, user_text
from teachkit.formats.readers import read_records
from teachkit.records import Record

from .conftest import SELF_INSTRUCT

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _reference_rouge(a: str, b: str) -> float:
    return float(_SCORER.score(a, b)["rougeL"].fmeasure)


def _inputs() -> list[str]:
    return [user_text(r) for r in read_records(SELF_INSTRUCT / "seed_tasks.jsonl")]


def _variants(texts: list[str], seed: int) -> list[str]:
    """Candidates at every distance from the texts: copies, edits, mixes, unrelated text."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        words = text.split()
        kept = [w for w in words if rng.random() > rng.choice((0.1, 0.3, 0.5, 0.8))]
        other = rng.choice(texts).split()
        out += [text, " ".join(kept), " ".join(kept + other[: len(other) // 2])]
    return out


def test_pruned_search_finds_what_the_full_scan_finds() -> None:
    """The inverted-index bound must never hide a pair that rouge_score itself scores above the
    threshold (checked against rouge_score directly, over every pair)."""
    references = _inputs()[:80]
    candidates = _variants(references, seed=1)[:150]
    for threshold in (0.5, 0.7):
        checker = Decontaminator(references, threshold=threshold, ngram=0)
        pruned = [checker.check(c) is not None for c in candidates]
        full = [any(_reference_rouge(c, r) > threshold for r in references) for c in candidates]
        assert pruned == full
        assert 0 < sum(full) < len(candidates)
        # and it really prunes: far fewer ROUGE-L computations than pairs
        assert checker.rouge_calls < len(candidates) * len(references) / 10


@settings(max_examples=60)
@given(
    references=st.lists(st.text("ab cd", max_size=30), min_size=1, max_size=8),
    candidate=st.text("ab cd", max_size=30),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.9]),
)
def test_pruning_matches_brute_force(
    references: list[str], candidate: str, threshold: float
) -> None:
    checker = Decontaminator(references, threshold=threshold, ngram=0)
    expected = any(_reference_rouge(candidate, r) > threshold for r in references)
    assert (checker.check(candidate) is not None) == expected


def test_long_ngram_overlap_is_caught_even_with_low_rouge() -> None:
    long_input = " ".join(f"word{i}" for i in range(40))
    references = [long_input, "a short unrelated question about rivers"]
    span = " ".join(f"word{i}" for i in range(10, 23))  # 13 words
    filler = " ".join(f"other{i}" for i in range(120))
    candidate = f"{filler} {span} {filler}"
    assert _reference_rouge(candidate, long_input) < 0.3
    hit = Decontaminator(references, ngram=13).check(candidate)
    assert hit is not None and hit.test == "ngram" and hit.reference == 0
    assert hit.detail == span
    # twelve shared words are not enough for a 13-gram
    short_span = " ".join(f"word{i}" for i in range(10, 22))
    assert Decontaminator(references, ngram=13).check(f"{filler} {short_span} {filler}") is None
    assert Decontaminator(references, ngram=0).check(candidate) is None


def test_rouge_hit_reports_the_reference_and_score() -> None:
    references = ["Write a poem about the sea at night.", "List three prime numbers."]
    hit = Decontaminator(references).check("Please write a poem about the sea at night")
    assert hit is not None and hit.test == "rouge_l" and hit.reference == 0
    assert hit.score == pytest.approx(
        _reference_rouge(references[0], "Please write a poem about the sea at night")
    )
    assert "ROUGE-L" in hit.reason()
    assert Decontaminator(references).check("Explain photosynthesis to a child.") is None
    assert Decontaminator(references).check("") is None


def test_user_text_joins_user_turns() -> None:
    record = Record(
        messages=[
            {"role": "system", "content": "S"},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "A"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "B"},
        ]
    )
    assert user_text(record) == "one\ntwo"


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        Decontaminator(["x"], threshold=1.0)
    with pytest.raises(ValueError):
        Decontaminator(["x"], ngram=-1)
