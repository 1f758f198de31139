"""The n-gram language model: maximum likelihood, seeded, only n-grams it saw."""

from __future__ import annotations

from teachkit.quality.ngram import NgramModel, detokenize, lm_tokens

TEXTS = [
    "Write a poem about the sea.",
    "Write a story about the city.",
    "Explain the rules of chess.",
    "Don't write a poem about well-known cities, please!",
]


def trigrams(tokens: list[str]) -> set[tuple[str, ...]]:
    padded = ["<s>", "<s>", *tokens, "</s>"]
    return {tuple(padded[i : i + 3]) for i in range(len(padded) - 2)}


def test_tokens_and_detokenisation_round_trip() -> None:
    tokens = lm_tokens("Don't write a poem about well-known cities, please!")
    assert tokens == [
        "Don't",
        "write",
        "a",
        "poem",
        "about",
        "well-known",
        "cities",
        ",",
        "please",
        "!",
    ]
    assert detokenize(tokens) == "Don't write a poem about well-known cities, please!"
    assert detokenize(["(", "a", ")", "b", "."]) == "(a) b."


def test_samples_only_contain_trigrams_of_the_training_texts() -> None:
    model = NgramModel.fit(TEXTS, order=3)
    seen = set().union(*(trigrams(lm_tokens(t)) for t in TEXTS))
    assert model.ngram_types() == len(seen)
    for text in model.sample(200, seed=0):
        assert trigrams(lm_tokens(text)) <= seen


def test_sampling_is_seeded_and_follows_the_counts() -> None:
    model = NgramModel.fit(TEXTS, order=3)
    assert model.sample(50, seed=1) == model.sample(50, seed=1)
    assert model.sample(50, seed=1) != model.sample(50, seed=2)
    # after <s> <s>: "Write" 2 of 4, "Explain" 1, "Don't" 1
    firsts = [t.split()[0] for t in model.sample(4000, seed=3)]
    assert abs(firsts.count("Write") / 4000 - 0.5) < 0.03
    assert abs(firsts.count("Explain") / 4000 - 0.25) < 0.03


def test_a_unigram_model_and_the_length_cap() -> None:
    model = NgramModel.fit(["a b c"], order=1)
    texts = model.sample(100, seed=0, max_tokens=2)
    assert all(len(lm_tokens(t)) <= 2 for t in texts)
    assert {tok for t in texts for tok in lm_tokens(t)} <= {"a", "b", "c"}
