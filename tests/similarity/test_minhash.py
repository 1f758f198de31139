"""MinHash signatures, LSH parameters, the streaming index and its compact containers."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teachkit.similarity.minhash import MinHasher, MinHashIndex, lsh_params
from teachkit.similarity.store import Chunks, IntCache, KeyStore, MultiTable
from teachkit.similarity.text import normalize

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"
PROPS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def real_texts() -> list[str]:
    texts: list[str] = []
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            task = json.loads(line)
            texts.append(task["instruction"])
            texts += [i["input"] for i in task["instances"] if i["input"]]
    return texts


def token_sets(shared: int, only_a: int, only_b: int, tag: int) -> tuple[str, str, float]:
    """Two texts whose word sets have a known Jaccard similarity."""
    common = [f"c{tag}x{i}" for i in range(shared)]
    a = common + [f"a{tag}x{i}" for i in range(only_a)]
    b = common + [f"b{tag}x{i}" for i in range(only_b)]
    return " ".join(a), " ".join(b), shared / (shared + only_a + only_b)


# --- signatures ------------------------------------------------------------------------------
@pytest.mark.parametrize(("shingle", "ngram"), [("char", 5), ("char", 9), ("word", 3)])
def test_signatures_are_those_of_datasketch(shingle: str, ngram: int) -> None:
    datasketch = pytest.importorskip("datasketch")
    texts = [normalize(t) for t in real_texts()[:400]]
    texts += ["", "abc", "naïve café über straße", "日本語の短い文です。", "emoji 😀 here"]
    hasher = MinHasher(128, shingle, ngram)  # type: ignore[arg-type]
    ours = np.concatenate([hasher.signatures(texts[i : i + 97]) for i in range(0, len(texts), 97)])
    for text, row in zip(texts, ours, strict=True):
        reference = datasketch.MinHash(num_perm=128)
        reference.update_batch([s.encode("utf-8") for s in hasher.shingles(text)])
        assert np.array_equal(reference.hashvalues, row), text


def test_lsh_parameters_are_those_of_datasketch() -> None:
    lsh = pytest.importorskip("datasketch.lsh")
    for num_perm in (32, 128, 256):
        for threshold in (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
            expected = lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
            assert lsh_params(threshold, num_perm) == expected


def test_short_texts_are_one_shingle() -> None:
    hasher = MinHasher(64, "char", 5)
    assert hasher.shingles("abc") == ["abc"]
    assert hasher.shingles("") == [""]
    assert MinHasher(64, "word", 3).shingles("one two") == ["one two"]
    sig = hasher.signatures(["", "abc", "abc"])
    assert np.array_equal(sig[1], sig[2]) and not np.array_equal(sig[0], sig[1])


@PROPS
@given(
    shared=st.integers(1, 120),
    only_a=st.integers(0, 60),
    only_b=st.integers(0, 60),
    tag=st.integers(0, 10**6),
)
def test_jaccard_estimate_is_within_a_statistical_bound(
    shared: int, only_a: int, only_b: int, tag: int
) -> None:
    a, b, jaccard = token_sets(shared, only_a, only_b, tag)
    k = 128
    sig = MinHasher(k, "word", 1).signatures([a, b])
    estimate = float(np.mean(sig[0] == sig[1]))
    bound = 5 * math.sqrt(jaccard * (1 - jaccard) / k) + 2 / k  # five standard deviations
    assert abs(estimate - jaccard) <= bound
    # the index keeps one byte per value; its corrected estimate obeys the same bound (+ chance)
    index = MinHashIndex(0.01, num_perm=k, shingle="word", ngram=1, group_threshold=None)
    small = (sig & np.uint32(0xFF)).astype(np.uint8)
    est, _ = index._compare(small[:1], small[1], None, None, 0)
    assert abs(float(est[0]) - jaccard) <= bound + 4 * math.sqrt(1 / 256 / k)


# --- the index -------------------------------------------------------------------------------
def pairs_found(jaccard_sizes: tuple[int, int], count: int, **options: object) -> float:
    shared, only = jaccard_sizes
    index = MinHashIndex(0.8, shingle="word", ngram=1, group_threshold=None, **options)  # type: ignore[arg-type]
    found = 0
    for tag in range(count):
        a, b, _ = token_sets(shared, only, only, tag)
        decisions = index.add_many([a, b], [f"a{tag}", f"b{tag}"])
        found += decisions[1].duplicate_of == decisions[0].doc
    return found / count


def test_lsh_finds_pairs_above_the_threshold_with_high_probability() -> None:
    b, r = lsh_params(0.8, 128)
    for shared, only in ((95, 5), (170, 5), (190, 0)):
        jaccard = shared / (shared + 2 * only)
        expected = 1 - (1 - jaccard**r) ** b  # chance a pair shares a band
        rate = pairs_found((shared, only), 200)
        assert rate >= expected - 4 * math.sqrt(expected * (1 - expected) / 200) - 0.01
    assert pairs_found((50, 25), 100) == 0.0  # Jaccard 0.5: far below the threshold


def test_group_bands_change_no_drop_decision() -> None:
    rng = random.Random(7)
    texts = [normalize(t) for t in real_texts()[:600]]
    stream = []
    for text in texts:
        stream.append(text)
        if rng.random() < 0.4:  # a light edit of a recent text
            words = rng.choice(stream[-20:]).split()
            words[rng.randrange(len(words))] = rng.choice(["blue", "data", "the", "five"])
            stream.append(" ".join(words))
    keys = [str(i) for i in range(len(stream))]
    plain = MinHashIndex(0.8, group_threshold=None).add_many(stream, keys)
    grouped = MinHashIndex(0.8, group_threshold=0.5).add_many(stream, keys)
    assert [d.duplicate_of for d in plain] == [d.duplicate_of for d in grouped]
    assert sum(d.duplicate_of is not None for d in plain) > 0
    assert any(d.group_of is not None for d in grouped)


@PROPS
@given(
    choices=st.lists(st.integers(0, 30), min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 20), min_size=1, max_size=10),
)
def test_batches_decide_exactly_like_one_at_a_time(choices: list[int], cuts: list[int]) -> None:
    base = [normalize(t) for t in real_texts()[:12]]
    pool = base + [t + " again" for t in base] + [t[: len(t) // 2] for t in base[:7]]
    texts = [pool[c % len(pool)] for c in choices]
    keys = [f"k{i}" for i in range(len(texts))]
    one = MinHashIndex(0.7, group_threshold=0.4)
    single = [one.add_many([t], [k])[0] for t, k in zip(texts, keys, strict=True)]
    many = MinHashIndex(0.7, group_threshold=0.4)
    batched, at, i = [], 0, 0
    while at < len(texts):
        size = cuts[i % len(cuts)]
        batched += many.add_many(texts[at : at + size], keys[at : at + size])
        at, i = at + size, i + 1
    assert batched == single


def test_same_key_is_known_not_a_duplicate_and_forget_unmatches() -> None:
    index = MinHashIndex(0.8)
    text = normalize(real_texts()[3])
    first = index.add_many([text], ["one"])[0]
    assert first.doc == 0
    again = index.add_many([text], ["one"])[0]
    assert again.known and again.doc == 0 and again.duplicate_of is None
    assert index.add_many([text], ["two"])[0].duplicate_of == 0
    assert index.forget("one") and not index.forget("one")
    assert index.add_many([text], ["three"])[0].duplicate_of is None


# --- containers ------------------------------------------------------------------------------
@PROPS
@given(batches=st.lists(st.lists(st.integers(1, 40), max_size=300), min_size=1, max_size=6))
def test_multitable_returns_every_value_of_a_key(batches: list[list[int]]) -> None:
    table, reference = MultiTable(capacity=8), defaultdict(list)
    value = 0
    for batch in batches:
        keys = np.array(batch, dtype=np.uint32)
        values = np.arange(value, value + len(batch), dtype=np.uint32)
        table.insert(keys, values)
        for k, v in zip(batch, values.tolist(), strict=True):
            reference[k].append(v)
        value += len(batch)
    queries = np.arange(1, 45, dtype=np.uint32)
    at, found = table.lookup(queries)
    got = defaultdict(list)
    for q, v in zip(at.tolist(), found.tolist(), strict=True):
        got[int(queries[q])].append(v)
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in reference.items()}
    assert len(table) == value


def test_intcache_maps_and_empties_itself_at_its_limit() -> None:
    cache = IntCache(limit=1000)
    keys = np.arange(1, 801, dtype=np.uint64) * np.uint64(2654435761)
    cache.put(keys, (keys % np.uint64(1 << 32)).astype(np.uint32))
    values, found = cache.get(np.concatenate([keys, keys + np.uint64(1)]))
    assert found[:800].all() and not found[800:].any()
    assert np.array_equal(values[:800], (keys % np.uint64(1 << 32)).astype(np.uint32))
    more = np.arange(5001, 5401, dtype=np.uint64)
    cache.put(more, np.ones(400, dtype=np.uint32))  # over the limit: starts afresh
    assert len(cache) == 400 and not cache.get(keys)[1].any() and cache.get(more)[1].all()


def test_chunks_and_keystore_round_trip() -> None:
    chunks, keys = Chunks(3, np.uint8), KeyStore()
    rows = np.arange(40000 * 3, dtype=np.uint32).reshape(-1, 3).astype(np.uint8)
    chunks.extend(rows[:5])
    chunks.extend(rows[5:])
    pick = np.array([0, 4, 5, 16383, 16384, 39999], dtype=np.int64)
    assert np.array_equal(chunks.take(pick), rows[pick])
    assert sum(len(v) for v in chunks.view()) == 40000
    for word in ("", "r1-abc", "ünïcode"):
        keys.append(word)
    assert [keys[i] for i in range(3)] == ["", "r1-abc", "ünïcode"]
