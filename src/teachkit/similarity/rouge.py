"""ROUGE-L between short texts, exactly as ``rouge_score`` computes it, fast enough for big pools.

``rouge_l(a, b)`` equals rouge_score's
``RougeScorer(["rougeL"], use_stemmer=False).score(a, b)["rougeL"].fmeasure`` for every pair of
strings, bit for bit. The tokenizer is the same (lowercase, keep the runs of
``[a-z0-9]``) and so is the float formula: precision ``L/len(b)``, recall ``L/len(a)``, then
``2 * precision * recall / (precision + recall)``. The formula matters: a pair whose exact score is
0.7 often comes out as ``0.7000000000000001`` and is rejected by a ``> 0.7`` test, where a shortcut
such as ``2L/(m+n)`` would keep it.

Speed comes from mapping every distinct token to one character, so that a text becomes a short
string and the longest common subsequence of two texts is the LCS of two strings, which
``rapidfuzz`` computes bit-parallel, one query against a whole pool in a single call.
:class:`RougeLIndex` holds a growing pool; :func:`novel_by_rouge_l` makes the keep/drop decisions
of the classic one-candidate-at-a-time novelty loop, in blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = ["RougeLIndex", "novel_by_rouge_l", "rouge_l", "rouge_tokens"]

_TOKEN_RE = re.compile(r"[a-z0-9]+")
#: token ids from 0xD800 on are shifted past the surrogate code points
_SURROGATES = 0x800
#: ids from here on cannot be characters: texts then become lists of ints
_CODE_LIMIT = 0x110000
#: candidates decided together by novel_by_rouge_l
_BLOCK = 512
#: at most this many LCS lengths are held in memory at once
_CELLS = 1 << 22

Seq = str | list[int]


def rouge_tokens(text: str) -> list[str]:
    """The tokens ``rouge_score``'s default tokenizer yields (no stemming)."""
    return _TOKEN_RE.findall(text.lower())


def _fmeasure(lcs: int, target_len: int, prediction_len: int) -> float:
    if lcs == 0:
        return 0.0
    precision = lcs / prediction_len
    recall = lcs / target_len
    return 2 * precision * recall / (precision + recall)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of ``a`` (the target) and ``b`` (the prediction); symmetric."""
    ta, tb = rouge_tokens(a), rouge_tokens(b)
    if not ta or not tb:
        return 0.0
    return _fmeasure(int(LCSseq.similarity(ta, tb)), len(ta), len(tb))


def _fmeasures(
    lcs: NDArray[np.int64], target_len: NDArray[np.int64], prediction_len: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Vectorised :func:`_fmeasure`: the same IEEE operations in the same order."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / prediction_len
        recall = lcs / target_len
        f = 2 * precision * recall / (precision + recall)
    return np.where(lcs > 0, f, 0.0)


class _Codec:
    """Maps each distinct token to one code point, so a text becomes a string for rapidfuzz.

    After about 1.1 million distinct tokens the code points run out; from then on texts are lists
    of integer ids (slower, same results) and :attr:`widened` is true.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._chars: dict[str, str] = {}
        self.widened = False

    def encode(self, text: str) -> Seq:
        tokens = _TOKEN_RE.findall(text.lower())
        if not self.widened:
            try:  # the common case: every token seen before
                return "".join([self._chars[token] for token in tokens])
            except KeyError:
                pass
        ids = self._ids
        out: list[int] = []
        for token in tokens:
            code = ids.get(token)
            if code is None:
                code = len(ids)
                # ids below 0xD800 are code points as they are, the rest skip the surrogates
                code = code if code < 0xD800 else code + _SURROGATES
                if code >= _CODE_LIMIT:
                    self.widened = True
                else:
                    self._chars[token] = chr(code)
                ids[token] = code
            out.append(code)
        if self.widened:
            return out
        return "".join(map(chr, out))

    @staticmethod
    def widen(seq: Seq) -> list[int]:
        return [ord(ch) for ch in seq] if isinstance(seq, str) else seq


def _lcs(rows: Sequence[Seq], cols: Sequence[Seq]) -> NDArray[Any]:
    matrix: Any = process.cdist(rows, cols, scorer=LCSseq.similarity, dtype=np.int32)
    return np.asarray(matrix)


class RougeLIndex:
    """A growing pool of texts answering ROUGE-L queries against all members at once."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._codec = _Codec()
        self._seqs: list[Seq] = []
        self._lens = np.zeros(64, dtype=np.int64)
        self.texts: list[str] = []
        self.extend(texts)

    def __len__(self) -> int:
        return len(self._seqs)

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Token count of each member, in insertion order."""
        return self._lens[: len(self._seqs)]

    def _encode(self, text: str) -> Seq:
        was_wide = self._codec.widened
        seq = self._codec.encode(text)
        if self._codec.widened and not was_wide:
            self._seqs = [_Codec.widen(s) for s in self._seqs]
        return seq

    def _append(self, text: str, seq: Seq) -> None:
        if self._codec.widened:
            seq = _Codec.widen(seq)
        n = len(self._seqs)
        if n == len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros(n, dtype=np.int64)])
        self._lens[n] = len(seq)
        self._seqs.append(seq)
        self.texts.append(text)

    def add(self, text: str) -> None:
        self._append(text, self._encode(text))

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)

    def scores(self, text: str) -> NDArray[np.float64]:
        """ROUGE-L of ``text`` against every member, in insertion order."""
        seq = self._encode(text)
        if not seq or not self._seqs:
            return np.zeros(len(self._seqs), dtype=np.float64)
        lcs = _lcs([seq], self._seqs)[0]
        return _fmeasures(lcs, np.full_like(lcs, len(seq)), self.lengths)

    def max_score(self, text: str) -> tuple[float, int]:
        """The best ROUGE-L of ``text`` to the pool and that member's position (-1: empty pool)."""
        scores = self.scores(text)
        if not len(scores):
            return 0.0, -1
        best = int(np.argmax(scores))
        return float(scores[best]), best

    def filter(self, candidates: Iterable[str], threshold: float = 0.7) -> list[bool]:
        """Keep a candidate unless its ROUGE-L to some member is above ``threshold``; kept ones
        join the pool at once, so later candidates are compared with them too."""
        texts = list(candidates)
        seqs = [self._encode(text) for text in texts]
        needed = _Needed(threshold)
        keep: list[bool] = []
        for start in range(0, len(seqs), _BLOCK):
            block = seqs[start : start + _BLOCK]
            if self._codec.widened:
                block = [_Codec.widen(s) for s in block]
            decided = self._decide_block(block, needed)
            for offset, kept in enumerate(decided):
                if kept:
                    self._append(texts[start + offset], block[offset])
            keep.extend(decided)
        return keep

    def _decide_block(self, block: list[Seq], needed: _Needed) -> list[bool]:
        """Candidates against the pool in bulk, then against the block's earlier keepers."""
        lens = np.array([len(s) for s in block], dtype=np.int64)
        alive = np.flatnonzero(~self._hits(block, lens, needed))
        keep = [False] * len(block)
        if not len(alive):
            return keep
        sub = [block[i] for i in alive]
        above = _lcs(sub, sub) >= needed.matrix(lens[alive], lens[alive])
        taken = np.zeros(len(alive), dtype=bool)
        for a, i in enumerate(alive):
            if not (above[a, :a] & taken[:a]).any():
                keep[int(i)] = True
                taken[a] = True
        return keep

    def _hits(self, rows: list[Seq], row_lens: NDArray[np.int64], needed: _Needed) -> NDArray[Any]:
        """For each row: is its ROUGE-L to some member above the threshold?

        Members are visited in length order, and each row only meets the lengths that could
        score above the threshold with it (for 0.7, between 0.54 and 1.86 times its own).
        """
        hit = np.zeros(len(rows), dtype=bool)
        if not self._seqs:
            return hit
        order = np.argsort(self.lengths, kind="stable")
        lens = self.lengths[order]
        seqs = [self._seqs[i] for i in order]
        size = int(lens[-1]) + 1
        for n in np.unique(row_lens):
            need = needed.row(int(n), size)[:size]
            possible = np.flatnonzero(need <= np.minimum(np.arange(size), n))
            if not len(possible):
                continue
            lo = int(np.searchsorted(lens, possible[0], "left"))
            hi = int(np.searchsorted(lens, possible[-1], "right"))
            idx = np.flatnonzero(row_lens == n)
            group = [rows[i] for i in idx]
            step = max(1, _CELLS // len(group))
            for a in range(lo, hi, step):
                b = min(hi, a + step)
                found = (_lcs(group, seqs[a:b]) >= need[lens[a:b]][None, :]).any(1)
                hit[idx] |= found
        return hit


class _Needed:
    """The smallest LCS length whose ROUGE-L is above the threshold, per pair of token counts.

    It comes from rouge_score's own float formula, so comparing an LCS length with it decides
    like rouge_score does, with no float work per pair. As the exact F is ``2L/(m+n)``, the
    answer is one of the three integers above ``floor(threshold * (m + n) / 2) - 1``.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._rows: dict[int, NDArray[np.int64]] = {}

    def row(self, n: int, size: int) -> NDArray[np.int64]:
        """Needed LCS for a text of ``n`` tokens against ``m = 0 .. size-1`` tokens
        (``min(n, m) + 1``: no LCS is enough)."""
        cached = self._rows.get(n)
        if cached is None or len(cached) < size:
            cached = self._compute(n, max(size, 64, 2 * len(cached) if cached is not None else 0))
            self._rows[n] = cached
        return cached

    def _compute(self, n: int, size: int) -> NDArray[np.int64]:
        m = np.arange(size, dtype=np.int64)
        cap = np.minimum(m, n)
        if self.threshold < 0:  # every score, even 0, is above it
            return np.zeros(size, dtype=np.int64)
        base = np.floor(self.threshold * (m + n) / 2).astype(np.int64) - 1
        # an LCS of 0 scores 0, never above a threshold >= 0: start at 1, which also keeps the
        # divisions below away from zero (m = 0 only meets lcs > cap, which is masked out)
        m_safe, n_safe = np.maximum(m, 1), max(n, 1)
        need = cap + 1
        for k in (3, 2, 1):  # the smallest passing length is written last
            lcs = np.maximum(base + k, 1)
            precision = lcs / m_safe
            recall = lcs / n_safe
            above = 2 * precision * recall / (precision + recall) > self.threshold
            need = np.where(above & (lcs <= cap), lcs, need)
        return need

    def matrix(self, row_lens: NDArray[np.int64], col_lens: NDArray[np.int64]) -> NDArray[np.int64]:
        out = np.empty((len(row_lens), len(col_lens)), dtype=np.int64)
        size = int(col_lens.max()) + 1 if len(col_lens) else 1
        for n in np.unique(row_lens):
            out[row_lens == n] = self.row(int(n), size)[col_lens]
        return out


def novel_by_rouge_l(
    candidates: Iterable[str], pool: Iterable[str], threshold: float = 0.7
) -> list[bool]:
    """One keep/drop decision per candidate, in order, identical to the classic loop::

    for c in candidates:
        if max(rouge_l(c, p) for p in pool) > threshold: drop
        else: keep, and pool.append(c)
    """
    return RougeLIndex(pool).filter(list(candidates), threshold)
