"""The dedup filter: exact, MinHash and embedding methods, streaming "first kept" semantics."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from support import check_now
from teachkit.filters.base import Drop, FilterChain, FilterContext, Keep
from teachkit.filters.dedup import DedupFilter, DedupSpec
from teachkit.records import Record
from teachkit.similarity import ExactIndex
from teachkit.similarity.embed import CosineIndex
from teachkit.similarity.minhash import MinHashIndex, lsh_params
from teachkit.similarity.text import normalize

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"
PROPS = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def seed_instructions() -> list[str]:
    lines = (DATA / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["instruction"] for line in lines]


def record(user: str, answer: str = "An answer.", **meta: object) -> Record:
    return Record(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        meta=dict(meta),
    )


def ctx() -> FilterContext:
    def no_teacher(config: object, name: str) -> object:
        raise AssertionError("dedup needs no teacher")

    return FilterContext(base_dir=Path("."), seed=0, teacher_factory=no_teacher)  # type: ignore[arg-type]


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A deterministic stand-in encoder: hashed word counts, normalised."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.split():
            out[row, sum(word.encode()) * 31 % 256] += 1.0
        out[row, 255] += 0.01
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def make(method: str, **options: object) -> DedupFilter:
    if method == "embedding":
        index = CosineIndex(
            float(options.pop("threshold", 0.95)),  # type: ignore[arg-type]
            group_threshold=options.pop("group_threshold", 0.8),  # type: ignore[arg-type]
            encode=bag_of_words,
        )
        return DedupFilter(index, method="embedding", **options)  # type: ignore[arg-type]
    spec = DedupSpec(method=method, **options)  # type: ignore[arg-type]
    return spec.build(ctx())


METHODS = ["exact", "minhash", "embedding"]


# --- the spec --------------------------------------------------------------------------------
def test_spec_defaults_and_build() -> None:
    spec = DedupSpec()
    assert (spec.method, spec.field, spec.shingle, spec.ngram, spec.num_perm) == (
        "minhash",
        "user",
        "char",
        5,
        128,
    )
    assert spec.resolved_threshold() == 0.8 and spec.resolved_group_threshold() == 0.6
    assert DedupSpec(method="embedding").resolved_group_threshold() == 0.8
    assert DedupSpec(method="embedding", threshold=0.7).resolved_group_threshold() == 0.7
    assert DedupSpec(group=False).resolved_group_threshold() is None
    f = spec.build(ctx())
    assert isinstance(f.index, MinHashIndex) and f.name == "dedup" and f.cost == 1
    assert isinstance(DedupSpec(method="exact", name="exact").build(ctx()).index, ExactIndex)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "exact", "threshold": 0.9}, "no threshold"),
        ({"threshold": 0.7, "group_threshold": 0.9}, "above threshold"),
        ({"model": "some/dir"}, "method: embedding only"),
        ({"field": "body"}, "should match pattern"),
        ({"shingle": "byte"}, "'char' or 'word'"),
        ({"threshold": 1.5}, "less than or equal to 1"),
    ],
)
def test_spec_rejects_inconsistent_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DedupSpec(**options)  # type: ignore[arg-type]


# --- streaming semantics, every method -------------------------------------------------------
texts_strategy = st.lists(st.integers(0, 14), min_size=1, max_size=40)


@pytest.mark.parametrize("method", METHODS)
@PROPS
@given(picks=texts_strategy)
def test_first_kept_later_copies_dropped_never_as_their_own_duplicate(
    method: str, picks: list[int]
) -> None:
    pool = seed_instructions()[:15]
    f = make(method)
    seen: set[str] = set()
    kept: dict[str, Record] = {}
    for n, pick in enumerate(picks):
        text = pool[pick] if n % 2 else pool[pick].upper() + "  "  # equal once normalised
        rec = record(text, answer=f"answer {n}")
        verdict = check_now(f, rec)
        if n == 0:
            assert isinstance(verdict, Keep)  # the first record is always kept
        if normalize(text) in seen:  # a copy of an earlier text is always dropped
            assert isinstance(verdict, Drop), (n, text)
        if isinstance(verdict, Drop):
            assert verdict.detail["duplicate_of"] in kept  # names a record kept before
            assert verdict.detail["duplicate_of"] != rec.id
            assert verdict.detail["method"] == method and 0 < verdict.detail["similarity"] <= 1
        else:
            assert rec.meta["group"]
            kept[rec.id] = rec
        seen.add(normalize(text))
    for rec in kept.values():  # checked again, a kept record is not its own duplicate
        assert isinstance(check_now(f, rec), Keep)


@pytest.mark.parametrize("method", METHODS)
def test_check_many_equals_checking_one_by_one(method: str) -> None:
    rng = random.Random(3)
    pool = seed_instructions()[:40]
    stream = [rng.choice(pool) + rng.choice(["", " please", "!"]) for _ in range(120)]
    records = [record(t, answer=f"a{n}") for n, t in enumerate(stream)]
    one = make(method)
    singles = [check_now(one, r) for r in records]
    many = make(method)
    assert many.check_many([record(t, answer=f"a{n}") for n, t in enumerate(stream)]) == singles
    assert any(isinstance(v, Drop) for v in singles) and any(isinstance(v, Keep) for v in singles)


@pytest.mark.parametrize("method", METHODS)
def test_warm_indexes_accepted_records_and_forget_unindexes(method: str) -> None:
    pool = seed_instructions()
    accepted = [record(pool[i], group=f"g{i % 3}") for i in range(10)]
    f = make(method)
    f.warm(accepted)
    assert f.stats()["indexed"] == 10 and f.stats()["dropped"] == 0
    copy = record(pool[4].lower(), answer="another answer")
    verdict = check_now(f, copy)
    assert isinstance(verdict, Drop) and verdict.detail["duplicate_of"] == accepted[4].id
    fresh = record(pool[20])
    assert isinstance(check_now(f, fresh), Keep)
    assert f.forget(fresh)  # a later filter dropped it: its copies are new again
    assert isinstance(check_now(f, record(pool[20], answer="other")), Keep)


# --- the drop detail and the groups -----------------------------------------------------------
def test_minhash_drop_names_the_kept_record_and_similarity() -> None:
    f = make("minhash")
    text = "Write a short poem about the sea and the waves that crash on the rocky shore at night."
    first, near = record(text), record(text.replace("rocky", "stony"))
    assert isinstance(check_now(f, first), Keep)
    verdict = check_now(f, near)
    assert isinstance(verdict, Drop) and verdict.reason == "near_duplicate"
    assert verdict.detail["duplicate_of"] == first.id
    assert 0.8 <= verdict.detail["similarity"] < 1.0
    exact = make("exact")
    check_now(exact, first)
    dropped = check_now(exact, record(text.upper()))
    assert isinstance(dropped, Drop) and dropped.reason == "exact_duplicate"
    assert dropped.detail == {"duplicate_of": first.id, "similarity": 1.0, "method": "exact"}


def test_groups_follow_the_first_similar_record() -> None:
    f = make("minhash", threshold=0.95, group_threshold=0.5)
    base = "Explain how photosynthesis turns sunlight, water and carbon dioxide into sugar."
    a = record(base)
    b = record(base.replace("Explain", "Describe"))  # Jaccard 0.82 with a: grouped, kept
    c = record(b.user.replace("into sugar", "into sugar and oxygen"))  # 0.87 with b, 0.72 with a
    d = record("List three famous paintings by Vincent van Gogh and the years they were made.")
    for r in (a, b, c, d):
        assert isinstance(check_now(f, r), Keep)
    assert a.meta["group"] == a.id and d.meta["group"] == d.id
    assert b.meta["group"] == a.id and c.meta["group"] == a.id  # c joins b's group, a's


def test_an_existing_group_is_kept_and_passed_on() -> None:
    f = make("minhash", threshold=0.9, group_threshold=0.5)
    base = "Translate the following English sentence into French and explain the grammar."
    first = record(base, group="set-by-another-filter")
    assert isinstance(check_now(f, first), Keep) and first.meta["group"] == "set-by-another-filter"
    second = record(base.replace("French", "German"))
    assert isinstance(check_now(f, second), Keep)
    assert second.meta["group"] == "set-by-another-filter"


def test_field_option_chooses_the_text() -> None:
    f = make("exact", field="assistant")
    assert isinstance(check_now(f, record("q1", answer="Same answer.")), Keep)
    assert isinstance(check_now(f, record("q2", answer="same   ANSWER.")), Drop)
    g = make("exact", field="meta.topic")
    assert isinstance(check_now(g, record("q1", topic="cats")), Keep)
    assert isinstance(check_now(g, record("q2", topic="dogs")), Keep)
    assert isinstance(check_now(g, record("q3", topic="Cats")), Drop)


async def test_in_a_chain_dedup_indexes_on_check() -> None:
    chain = FilterChain([make("minhash")])
    text = seed_instructions()[0]
    assert await chain.evaluate(record(text)) is None
    dropped = await chain.evaluate(record(text, answer="different"))
    assert dropped is not None and dropped[1].reason == "near_duplicate"
    assert chain.dropped[("dedup", "near_duplicate")] == 1


def test_real_instructions_with_planted_edits() -> None:
    """Seed tasks are distinct; case/space variants are exact duplicates; one-word edits of long
    instructions are near duplicates; every drop is justified by a real Jaccard similarity."""
    pool = [t for t in seed_instructions() if len(t) > 80]
    rng = random.Random(11)
    exact, near = make("exact"), make("minhash")
    originals = [record(t) for t in pool]
    assert all(isinstance(check_now(exact, r), Keep) for r in originals)
    near_verdicts = [check_now(near, r) for r in originals]
    grams = [_grams(normalize(r.user)) for r in originals]
    for n, verdict in enumerate(near_verdicts):
        if isinstance(verdict, Drop):  # a seed task close to an earlier one: check it truly is
            first = next(
                i for i, r in enumerate(originals) if r.id == verdict.detail["duplicate_of"]
            )
            assert _jaccard(grams[n], grams[first]) >= 0.6
    caught, expected, variance = 0, 0.0, 0.0
    b, r = lsh_params(0.8, 128)
    for n, text in enumerate(pool):
        assert isinstance(check_now(exact, record("  " + text.upper(), answer=str(n))), Drop)
        words = text.split()
        words[rng.randrange(len(words))] = "banana"
        edit = record(" ".join(words), answer=str(n))
        j = _jaccard(_grams(normalize(edit.user)), grams[n])
        dropped = isinstance(check_now(near, edit), Drop)
        caught += dropped
        # chance to share a band, times chance the estimate reaches 0.8 (normal approximation)
        sd = math.sqrt(max(j * (1 - j), 1e-9) / 128)
        p = (1 - (1 - j**r) ** b) * 0.5 * (1 + math.erf((j - 0.8) / sd / math.sqrt(2)))
        expected, variance = expected + p, variance + p * (1 - p)
        if dropped:
            assert j >= 0.6
    assert caught >= expected - 3 * math.sqrt(variance) - 1
    assert caught > len(pool) / 3


def _grams(text: str) -> set[str]:
    return {text[i : i + 5] for i in range(len(text) - 4)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)
