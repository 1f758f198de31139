"""Lexical diversity, streaming and exact: distinct-n, openers, lengths, unigram counts.

Tokens (for distinct-n, openers and the vocabulary) are the maximal runs of Unicode word
characters (``\\w+``: letters, digits, underscore) of the normalised text (NFKC, case folded; see
:func:`teachkit.similarity.normalize`); punctuation is not a token. Lengths are counted on the text
itself: words are whitespace-separated (as the ``rules`` filter counts them) and characters are
code points of the trimmed text.

distinct-n is corpus-level (Li et al. 2016): the number of distinct n-grams over all texts divided
by the total number of n-grams, where n-grams never cross from one text into the next and a text
of fewer than ``n`` tokens has none. The denominator is the n-gram count, not the token count (a
common variant), so distinct-n stays in [0, 1] and equals 1 exactly when no n-gram repeats.

Memory: each token gets an integer id (a dict entry per vocabulary word); distinct n-grams are kept
exactly as sorted 64-bit keys (``n`` ids packed into one integer, or ``4 n`` bytes when the
vocabulary outgrows the packing), 8 bytes per distinct n-gram; lengths and openers take
``8 + 4 k`` bytes per record. Nothing else grows with the stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from teachkit.similarity.text import normalize

__all__ = [
    "LexicalStats",
    "NgramCounter",
    "Vocabulary",
    "distinct_n",
    "length_edges",
    "length_summary",
    "opener_concentration",
    "quantile_dict",
    "tokens",
]

I64 = npt.NDArray[np.int64]
_WORD_RE = re.compile(r"\w+")
#: pending n-gram keys are merged into the sorted set once there are this many (or as many as
#: the set holds)
_MERGE_AT = 1 << 20
#: quantiles reported for lengths (numpy's default linear interpolation, Hyndman-Fan type 7)
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


def tokens(text: str) -> list[str]:
    """The lexical metrics' tokens: ``\\w+`` runs of the normalised text."""
    return _WORD_RE.findall(normalize(text))


class Vocabulary:
    """Token -> id (0, 1, 2, ... in order of first sight); shared by the two sides of a drift."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.words: list[str] = []

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, texts_tokens: Sequence[Sequence[str]]) -> I64:
        """The ids of every token of every text, flat."""
        flat = list(chain.from_iterable(texts_tokens))
        ids = self._ids
        codes = list(map(ids.get, flat))  # the common case, at C speed: every token known
        if None in codes:
            words = self.words
            for i, code in enumerate(codes):
                if code is None:
                    token = flat[i]
                    code = ids.get(token)
                    if code is None:
                        code = ids[token] = len(words)
                        words.append(token)
                    codes[i] = code
        return np.array(codes, dtype=np.int64)


def _unique_sorted(keys: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Sorted distinct values (np.unique without its hashing path, which is slower here)."""
    if len(keys) < 2:
        return keys.copy()
    ordered = np.sort(keys)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    keep[1:] = ordered[1:] != ordered[:-1]  # (void keys have no not_equal loop with out=)
    return ordered[keep]


def _windows(lengths: I64, n: int) -> I64:
    """Flat start positions of the n-grams of texts of these token counts (none across texts)."""
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    offset = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    return np.flatnonzero(offset <= np.repeat(lengths, lengths) - n).astype(np.int64)


class NgramCounter:
    """Exact streaming count of the distinct n-grams (and all n-grams) of a stream of texts."""

    def __init__(self, n: int, *, bits: int | None = None) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.total = 0
        #: bits per token id in a packed key; ids at or beyond 2**bits switch to wide keys
        self.bits = bits if bits is not None else 64 // n
        self.wide = False
        self._set: npt.NDArray[Any] = np.zeros(0, dtype=np.uint64)
        self._pending: list[npt.NDArray[Any]] = []
        self._pending_size = 0

    @property
    def distinct(self) -> int:
        self._merge()
        return len(self._set)

    @property
    def value(self) -> float | None:
        """distinct / total, or None when the stream had no n-gram."""
        return self.distinct / self.total if self.total else None

    def nbytes(self) -> int:
        return int(self._set.nbytes) + sum(int(p.nbytes) for p in self._pending)

    def add(self, ids: I64, lengths: I64) -> None:
        """Count the n-grams of texts given as flat token ids and token counts per text."""
        starts = _windows(lengths, self.n)
        if not len(starts):
            return
        self.total += len(starts)
        if not self.wide and len(ids) and int(ids.max()) >> self.bits:
            self._widen()
        keys = self._wide_keys(ids, starts) if self.wide else self._packed_keys(ids, starts)
        keys = _unique_sorted(keys)
        self._pending.append(keys)
        self._pending_size += len(keys)
        if self._pending_size >= max(_MERGE_AT, len(self._set)):
            self._merge()

    def _packed_keys(self, ids: I64, starts: I64) -> npt.NDArray[np.uint64]:
        wide = ids.astype(np.uint64)
        keys = np.zeros(len(starts), dtype=np.uint64)
        for j in range(self.n):
            keys |= wide[starts + j] << np.uint64(self.bits * (self.n - 1 - j))
        return keys

    def _wide_keys(self, ids: I64, starts: I64) -> npt.NDArray[Any]:
        columns = np.stack([ids[starts + j] for j in range(self.n)], axis=1).astype(np.uint32)
        return np.ascontiguousarray(columns).view(f"V{4 * self.n}").ravel()

    def _widen(self) -> None:
        """Switch to keys of ``n`` uint32 ids (the vocabulary outgrew the packing)."""
        self._merge()
        mask = np.uint64((1 << self.bits) - 1)
        old = self._set
        columns = [(old >> np.uint64(self.bits * (self.n - 1 - j))) & mask for j in range(self.n)]
        stacked = np.stack(columns, axis=1).astype(np.uint32) if len(old) else None
        if stacked is None:
            self._set = np.zeros(0, dtype=f"V{4 * self.n}")
        else:
            self._set = _unique_sorted(np.ascontiguousarray(stacked).view(f"V{4 * self.n}").ravel())
        self.wide = True

    def _merge(self) -> None:
        if not self._pending:
            return
        self._set = _unique_sorted(np.concatenate([self._set, *self._pending]))
        self._pending = []
        self._pending_size = 0


def length_edges(largest: int, growth: float = 1.25) -> list[int]:
    """The bin edges of every length histogram: ``e[0] = 0``, ``e[i+1] = max(e[i] + 1,
    ceil(growth * e[i]))`` (0, 1, 2, 3, 4, 5, 7, 9, 12, 15, 19, ...), until past ``largest``.

    The sequence does not depend on the data, so two histograms always share their bins (the
    shorter edge list is a prefix of the longer)."""
    edges = [0]
    while edges[-1] <= largest:
        edges.append(max(edges[-1] + 1, int(np.ceil(edges[-1] * growth))))
    return edges


def histogram(values: npt.NDArray[np.int64], edges: Sequence[int]) -> list[int]:
    """Counts per bin ``[edges[i], edges[i+1])``."""
    bins = np.searchsorted(np.asarray(edges), values, side="right") - 1
    counts = np.bincount(bins, minlength=len(edges) - 1)[: len(edges) - 1]
    return [int(c) for c in counts]


def quantile_dict(values: npt.ArrayLike, quantiles: Sequence[float]) -> dict[str, float]:
    """``{"p50": ...}`` for each quantile (numpy's default linear interpolation, type 7)."""
    found = np.quantile(np.asarray(values, dtype=np.float64), quantiles)
    return {f"p{round(q * 100)}": float(v) for q, v in zip(quantiles, found, strict=True)}


def length_summary(values: Sequence[int] | npt.NDArray[np.int64]) -> dict[str, Any]:
    """Mean, quantiles (type 7) and the histogram over :func:`length_edges` of some lengths."""
    array = np.asarray(values, dtype=np.int64)
    if not len(array):
        return {"count": 0, "mean": None, "quantiles": None, "histogram": None}
    edges = length_edges(int(array.max()))
    return {
        "count": len(array),
        "mean": float(array.mean()),
        "quantiles": quantile_dict(array, QUANTILES),
        "histogram": {"edges": edges, "counts": histogram(array, edges)},
    }


@dataclass(frozen=True, slots=True)
class _Opener:
    ids: tuple[int, ...]
    count: int


def _openers(first: npt.NDArray[np.int32], k: int, top: int) -> tuple[int, int, list[_Opener]]:
    """(records counted, distinct openers, the ``top`` most common) from padded first ids."""
    rows = first[first[:, 0] >= 0][:, :k]
    if not len(rows):
        return 0, 0, []
    keys = np.ascontiguousarray(rows).view(f"V{4 * k}").ravel()
    ordered = np.sort(keys)
    change = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(change, len(ordered)))
    values = ordered[change]
    best = np.lexsort((np.arange(len(counts)), -counts))[:top]
    found = [
        _Opener(tuple(int(x) for x in np.frombuffer(values[i].tobytes(), dtype=np.int32)), int(c))
        for i, c in zip(best, counts[best], strict=True)
    ]
    return len(rows), len(values), found


class LexicalStats:
    """The streaming lexical accumulators of one side (synthetic or reference) of a panel."""

    def __init__(
        self,
        vocabulary: Vocabulary | None = None,
        *,
        ngrams: Sequence[int] = (1, 2, 3),
        openers: Sequence[int] = (3, 5),
    ) -> None:
        self.vocabulary = vocabulary if vocabulary is not None else Vocabulary()
        self.counters = {n: NgramCounter(n) for n in ngrams if n > 1}
        self.ngrams = tuple(ngrams)
        self.opener_sizes = tuple(openers)
        self._width = max(self.opener_sizes, default=0)
        self.records = 0
        self.empty = 0
        self.token_total = 0
        self.unigrams = np.zeros(0, dtype=np.int64)
        self._words: list[I64] = []
        self._chars: list[I64] = []
        self._first: list[npt.NDArray[np.int32]] = []

    def add(self, texts: Sequence[str]) -> None:
        if not texts:
            return
        toks = [tokens(text) for text in texts]
        lengths = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        ids = self.vocabulary.ids(toks)
        self.records += len(texts)
        self.empty += int((lengths == 0).sum())
        self.token_total += len(ids)
        counts = np.bincount(ids, minlength=len(self.vocabulary))
        if len(self.unigrams) < len(counts):
            self.unigrams = np.concatenate(
                [self.unigrams, np.zeros(len(counts) - len(self.unigrams), dtype=np.int64)]
            )
        self.unigrams[: len(counts)] += counts
        for counter in self.counters.values():
            counter.add(ids, lengths)
        self._words.append(np.fromiter((len(t.split()) for t in texts), np.int64, len(texts)))
        self._chars.append(np.fromiter((len(t.strip()) for t in texts), np.int64, len(texts)))
        if self._width:
            first = np.full((len(texts), self._width), -1, dtype=np.int32)
            starts = np.cumsum(lengths) - lengths
            for j in range(self._width):
                has = lengths > j
                first[has, j] = ids[starts[has] + j]
            self._first.append(first)

    def word_lengths(self) -> I64:
        return np.concatenate(self._words) if self._words else np.zeros(0, dtype=np.int64)

    def char_lengths(self) -> I64:
        return np.concatenate(self._chars) if self._chars else np.zeros(0, dtype=np.int64)

    def distinct(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in self.ngrams:
            if n == 1:
                distinct, total = int(np.count_nonzero(self.unigrams)), self.token_total
            else:
                distinct, total = self.counters[n].distinct, self.counters[n].total
            out[str(n)] = {
                "distinct": distinct,
                "total": total,
                "value": distinct / total if total else None,
            }
        return out

    def openers(self, top: int = 10) -> dict[str, Any]:
        first = (
            np.concatenate(self._first)
            if self._first
            else np.zeros((0, max(self._width, 1)), dtype=np.int32)
        )
        out: dict[str, Any] = {}
        words = self.vocabulary.words
        for k in self.opener_sizes:
            counted, distinct, found = _openers(first, k, top)
            out[str(k)] = {
                "records": counted,
                "distinct": distinct,
                "top_share": found[0].count / counted if found else None,
                "top": [
                    {
                        "opener": " ".join(words[i] for i in o.ids if i >= 0),
                        "count": o.count,
                        "share": o.count / counted,
                    }
                    for o in found
                ],
            }
        return out

    def lengths(self) -> dict[str, Any]:
        return {
            "words": length_summary(self.word_lengths()),
            "chars": length_summary(self.char_lengths()),
        }

    def nbytes(self) -> int:
        """Bytes held by the accumulators (the vocabulary's dict aside)."""
        held = sum(c.nbytes() for c in self.counters.values()) + int(self.unigrams.nbytes)
        arrays: list[npt.NDArray[Any]] = [*self._words, *self._chars, *self._first]
        held += sum(int(a.nbytes) for a in arrays)
        return held


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Corpus-level distinct-n of ``texts`` (see the module docstring); None without n-grams."""
    stats = LexicalStats(ngrams=(n,), openers=())
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= 4096:
            stats.add(batch)
            batch = []
    stats.add(batch)
    value: float | None = stats.distinct()[str(n)]["value"]
    return value


def opener_concentration(texts: Sequence[str], k: int = 3, top: int = 10) -> dict[str, Any]:
    """The most common first ``k`` tokens: their share and the ``top`` openers (see the panel)."""
    stats = LexicalStats(ngrams=(), openers=(k,))
    stats.add(list(texts))
    result: dict[str, Any] = stats.openers(top)[str(k)]
    return result
