"""Lexical metrics: hand-computed values, streaming equals one pass, invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from teachkit.quality.lexical import (
    LexicalStats,
    NgramCounter,
    Vocabulary,
    distinct_n,
    length_edges,
    length_summary,
    opener_concentration,
    tokens,
)

words = st.sampled_from(["a", "b", "c", "the", "cat", "Dog", "é", "x1"])
texts = st.lists(st.lists(words, max_size=8).map(" ".join), max_size=30)


def test_tokens_are_word_runs_of_the_normalised_text() -> None:
    assert tokens("Write a POEM, about “cats”!  x_1 9") == [
        "write",
        "a",
        "poem",
        "about",
        "cats",
        "x_1",
        "9",
    ]
    assert tokens("...") == []


def test_distinct_n_hand_values() -> None:
    corpus = ["a b a b", "a b", "c"]
    # unigrams: a b a b a b c -> 3 distinct of 7
    assert distinct_n(corpus, 1) == 3 / 7
    # bigrams: (a b) (b a) (a b) | (a b) -> 2 distinct of 4; none crosses into the next text
    assert distinct_n(corpus, 2) == 2 / 4
    # trigrams: (a b a) (b a b) -> 2 of 2; "a b" and "c" are too short
    assert distinct_n(corpus, 3) == 1.0
    assert distinct_n(["a b", "c"], 3) is None
    assert distinct_n([], 1) is None


def test_distinct_counts_in_the_panel_form() -> None:
    stats = LexicalStats()
    stats.add(["The cat sat.", "the cat ran", ""])
    assert stats.distinct() == {
        "1": {"distinct": 4, "total": 6, "value": 4 / 6},
        "2": {"distinct": 3, "total": 4, "value": 3 / 4},
        "3": {"distinct": 2, "total": 2, "value": 1.0},
    }
    assert stats.empty == 1
    assert stats.records == 3


@given(texts, st.integers(1, 4), st.integers(1, 7))
def test_distinct_n_is_a_share_and_batching_does_not_change_it(
    corpus: list[str], n: int, size: int
) -> None:
    whole = NgramCounter(n)
    vocabulary = Vocabulary()
    toks = [tokens(t) for t in corpus]
    lengths = np.array([len(t) for t in toks], dtype=np.int64)
    whole.add(vocabulary.ids(toks), lengths)
    streamed = NgramCounter(n)
    for a in range(0, len(corpus), size):
        part = toks[a : a + size]
        streamed.add(vocabulary.ids(part), np.array([len(t) for t in part], dtype=np.int64))
    grams = [tuple(t[i : i + n]) for t in toks for i in range(len(t) - n + 1)]
    assert whole.total == streamed.total == len(grams)
    assert whole.distinct == streamed.distinct == len(set(grams))
    if grams:
        assert whole.value is not None and 0 < whole.value <= 1


def test_wide_keys_give_the_same_counts_as_packed_ones() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 40, 5000).astype(np.int64)
    lengths = np.full(500, 10, dtype=np.int64)
    packed = NgramCounter(3)
    narrow = NgramCounter(3, bits=4)  # ids of 16 and up do not fit: it switches to wide keys
    packed.add(ids[:2000], lengths[:200])
    narrow.add(ids[:2000] % 16, lengths[:200])  # first batch fits in 4 bits
    assert not narrow.wide
    reference = NgramCounter(3)
    reference.add(ids[:2000] % 16, lengths[:200])
    reference.add(ids[2000:], lengths[200:])
    narrow.add(ids[2000:], lengths[200:])
    assert narrow.wide
    assert (narrow.distinct, narrow.total) == (reference.distinct, reference.total)
    packed.add(ids[2000:], lengths[200:])
    assert packed.total == narrow.total


def test_openers_hand_values() -> None:
    corpus = ["Write a poem about cats", "write a poem about dogs", "Write a story", "Hi", ""]
    three = opener_concentration(corpus, 3, top=2)
    assert three["records"] == 4  # the empty text has no opener
    assert three["distinct"] == 3
    assert three["top_share"] == 2 / 4
    assert three["top"][0] == {"opener": "write a poem", "count": 2, "share": 0.5}
    five = opener_concentration(corpus, 5)
    assert five["distinct"] == 4 and five["top_share"] == 1 / 4
    assert opener_concentration([], 3)["top_share"] is None


def test_length_edges_and_summary() -> None:
    assert length_edges(20) == [0, 1, 2, 3, 4, 5, 7, 9, 12, 15, 19, 24]
    summary = length_summary([1, 2, 3, 4, 10])
    assert summary["count"] == 5 and summary["mean"] == 4.0
    assert summary["quantiles"]["p50"] == 3.0
    assert summary["quantiles"]["p25"] == 2.0
    assert summary["quantiles"]["p95"] == pytest.approx(4 + 0.8 * 6)  # type 7: (n-1)p = 3.8
    assert summary["histogram"] == {
        "edges": [0, 1, 2, 3, 4, 5, 7, 9, 12],
        "counts": [0, 1, 1, 1, 1, 0, 0, 1],
    }
    assert length_summary([])["quantiles"] is None


def test_word_and_char_lengths_count_the_text_itself() -> None:
    stats = LexicalStats()
    stats.add(["  two words ", "one-word", ""])
    assert stats.word_lengths().tolist() == [2, 1, 0]
    assert stats.char_lengths().tolist() == [9, 8, 0]


@given(texts)
def test_length_histograms_count_every_text(corpus: list[str]) -> None:
    stats = LexicalStats()
    stats.add(corpus)
    lengths = stats.lengths()
    for key in ("words", "chars"):
        hist = lengths[key]["histogram"]
        if corpus:
            assert sum(hist["counts"]) == len(corpus)
            assert len(hist["counts"]) == len(hist["edges"]) - 1
