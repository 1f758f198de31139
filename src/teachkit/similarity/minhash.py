"""MinHash signatures and a streaming LSH index for near-duplicate detection.

Signatures follow datasketch's default scheme (``affine32``, datasketch >= 2.0), so decisions agree
with it: a shingle is hashed by SHA-1 (first four bytes, little endian), mixed by the MurmurHash3
finalizer, then permuted by ``h -> a*h + b mod 2**32`` with ``(a, b)`` drawn from
``numpy.random.RandomState(seed)``; a signature keeps each permutation's minimum. Shingles of a
whole batch are hashed at once (character n-grams are packed into integers and looked up in a
bounded cache, so SHA-1 runs once per distinct shingle) and signatures are computed with numpy.

The index keeps little per document: its LSH band keys in an open-addressing table (8 bytes per
slot), the low byte of each signature value (``num_perm`` bytes: enough to estimate the Jaccard
similarity and to tell which bands match) and its key (the record id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from teachkit.similarity.base import Decision
from teachkit.similarity.store import Chunks, IntCache, KeyStore, MultiTable

__all__ = ["Decision", "MinHashIndex", "MinHasher", "lsh_params"]

U32 = npt.NDArray[np.uint32]
_MASK32 = 0xFFFFFFFF
#: SHA-1 is computed once per distinct shingle; this many are remembered between batches
_CACHE_LIMIT = 1 << 21


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands ``b`` and rows ``r`` minimising the (equally weighted) areas of false positives and
    false negatives around ``threshold``: the choice datasketch's ``MinHashLSH`` makes."""
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    b, r = (np.array(column, dtype=np.float64)[:, None] for column in zip(*pairs, strict=True))
    weights = np.ones(1025)  # Simpson's rule on 1025 points
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0

    def area(lo: float, hi: float, positive: bool) -> npt.NDArray[np.float64]:
        s = np.linspace(lo, hi, len(weights))[None, :]
        miss = (1.0 - s**r) ** b
        return np.asarray(((1.0 - miss if positive else miss) * weights).sum(axis=1)) * (hi - lo)

    error = area(0.0, threshold, True) + area(threshold, 1.0, False)
    return pairs[int(np.argmin(error))]


def _shingle_hash(piece: str) -> int:
    """SHA-1's first four bytes (little endian), mixed by the MurmurHash3 finalizer."""
    h = int.from_bytes(hashlib.sha1(piece.encode("utf-8", "surrogatepass")).digest()[:4], "little")
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _MASK32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


class MinHasher:
    """Shingles texts and computes their MinHash signatures, many at a time. Texts are taken as
    they are (normalise them first); one shorter than a shingle is one shingle."""

    def __init__(
        self,
        num_perm: int = 128,
        shingle: Literal["char", "word"] = "char",
        ngram: int = 5,
        seed: int = 1,
    ) -> None:
        if num_perm < 2 or ngram < 1:
            raise ValueError("num_perm must be at least 2 and ngram at least 1")
        self.num_perm, self.shingle, self.ngram = num_perm, shingle, ngram
        gen = np.random.RandomState(seed)
        self._a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        self._b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        self._packed = shingle == "char" and ngram <= 7
        #: character -> small number (0: none yet) for packing n-grams; numbers -> characters
        self._lut = np.zeros(0x110000, dtype=np.uint16)
        self._chars = [""]
        self._cache = IntCache(_CACHE_LIMIT)
        self._recent: dict[str, int] = {}
        self._older: dict[str, int] = {}

    def shingles(self, text: str) -> list[str]:
        units, n = (text.split() if self.shingle == "word" else text), self.ngram
        join = " ".join if self.shingle == "word" else "".join
        if len(units) <= n:
            return [join(units)]
        return [join(units[i : i + n]) for i in range(len(units) - n + 1)]

    def signatures(self, texts: Sequence[str]) -> U32:
        """An ``(len(texts), num_perm)`` array of uint32 signature values."""
        flat, counts = self._hash_all(texts)
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        starts = np.concatenate(([0], np.cumsum(counts)))
        for a in range(0, len(texts), 256):  # chunks small enough to stay in cache
            b = min(a + 256, len(texts))
            lo, hi = int(starts[a]), int(starts[b])
            values = np.multiply.outer(self._a, flat[lo:hi])
            values += self._b[:, None]
            out[a:b] = np.minimum.reduceat(values, starts[a:b] - lo, axis=1).T
        return out

    def _hash_all(self, texts: Sequence[str]) -> tuple[U32, npt.NDArray[np.int64]]:
        """Mixed 32-bit hashes of every text's shingles, flat, and how many each text has."""
        n = self.ngram
        rows = [i for i, t in enumerate(texts) if len(t) > n] if self._packed else []
        if rows:
            flat, counts, ok = self._hash_packed([texts[i] for i in rows])
            if len(rows) == len(texts) and ok.all():
                return flat, counts
            pieces = np.split(flat, np.cumsum(counts)[:-1])
        parts: list[U32 | None] = [None] * len(texts)
        for row, piece, fine in zip(rows, pieces, ok.tolist(), strict=True) if rows else ():
            parts[row] = piece if fine else None
        arrays = [p if p is not None else self._hash_generic(texts[i]) for i, p in enumerate(parts)]
        sizes = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
        return np.concatenate(arrays), sizes

    def _hash_packed(
        self, texts: list[str]
    ) -> tuple[U32, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Hashes of texts longer than one shingle, with n-grams packed into integers (each
        character as a small number); a text with a character beyond the packing's alphabet
        gets no hashes here and ``ok`` False."""
        n, bits = self.ngram, 64 // self.ngram
        joined = "".join(texts).encode("utf-32-le", "surrogatepass")
        points = np.frombuffer(joined, dtype=np.uint32)
        ids = self._lut[points]
        if not ids.all():
            self._learn(points[ids == 0], (1 << min(bits, 16)) - 1)
            ids = self._lut[points]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        ends = np.cumsum(lengths)
        ok = np.ones(len(texts), dtype=bool)
        ok[np.searchsorted(ends, np.flatnonzero(ids == 0), side="right")] = False
        windows = len(ids) - n + 1
        packed = np.zeros(windows, dtype=np.uint64)
        wide = ids.astype(np.uint64)
        for j in range(n):
            packed |= wide[j : j + windows] << np.uint64(bits * (n - 1 - j))
        valid = np.repeat(ok, lengths)[:windows]
        for k in range(1, n):  # windows that would cross into the next text
            cut = ends[:-1] - k
            valid[cut[cut >= 0]] = False
        keys = packed[valid]
        values, found = self._cache.get(keys)
        if not found.all():
            missing = np.unique(keys[~found])
            chars, mask = self._chars, (1 << bits) - 1
            shifts = [bits * (n - 1 - j) for j in range(n)]
            wanted = missing.tolist()
            fresh = np.fromiter(
                (_shingle_hash("".join([chars[(k >> s) & mask] for s in shifts])) for k in wanted),
                dtype=np.uint32,
                count=len(missing),
            )
            self._cache.put(missing, fresh)
            values[~found] = fresh[np.searchsorted(missing, keys[~found])]
        return values, np.where(ok, lengths - n + 1, 0), ok

    def _learn(self, points: npt.NDArray[np.uint32], capacity: int) -> None:
        """Give unseen characters the next small numbers, while the packing has room."""
        for point in np.unique(points).tolist():
            if len(self._chars) > capacity:
                break
            self._lut[point] = len(self._chars)
            self._chars.append(chr(point))

    def _hash_generic(self, text: str) -> U32:
        out: list[int] = []
        recent, older = self._recent, self._older
        for piece in self.shingles(text):
            value = recent.get(piece)
            if value is None:
                value = older.get(piece)
                if value is None:
                    value = _shingle_hash(piece)
                recent[piece] = value
            out.append(value)
        if len(recent) > _CACHE_LIMIT // 8:  # two generations: a cheap, bounded LRU
            self._older, self._recent = recent, {}
        return np.array(out, dtype=np.uint32)


class MinHashIndex:
    """Streaming near-duplicate detection: the first document is kept, later ones are dropped.

    A later document is a near duplicate of a kept one when the two share an LSH band (bands and
    rows chosen for ``threshold`` as datasketch does) and their estimated Jaccard similarity is at
    least ``threshold``. With ``group_threshold`` below ``threshold``, bands tuned for it are
    indexed too, to name the earliest kept document that is similar without being a duplicate.
    """

    def __init__(
        self,
        threshold: float = 0.8,
        *,
        num_perm: int = 128,
        shingle: Literal["char", "word"] = "char",
        ngram: int = 5,
        group_threshold: float | None = 0.6,
        seed: int = 1,
    ) -> None:
        self.threshold = threshold
        self.hasher = MinHasher(num_perm, shingle, ngram, seed)
        b, r = lsh_params(threshold, num_perm)
        drop_bands = [(i * r, (i + 1) * r) for i in range(b)]
        self.group_threshold = group_threshold
        if group_threshold is None or group_threshold >= threshold:
            self.group_threshold, bands = None, drop_bands
        else:
            gb, gr = lsh_params(group_threshold, num_perm)
            bands = [(i * gr, (i + 1) * gr) for i in range(gb)]
            bands += [d for d in drop_bands if not any(d[0] <= s and e <= d[1] for s, e in bands)]
        self._bands = _Bands(bands)
        #: with group bands indexed, each document's own drop-band keys tell duplicates apart
        self._drop_bands = _Bands(drop_bands, salt=len(bands)) if bands != drop_bands else None
        self._drop_keys = Chunks(b, np.uint32) if self._drop_bands is not None else None
        self._lowest = min(threshold, group_threshold or threshold)
        self._table = MultiTable()
        self._small = Chunks(num_perm)
        self._keys = KeyStore()

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, doc: int) -> str:
        return self._keys[doc]

    def nbytes(self) -> int:
        """Bytes held for the indexed documents (band tables, signature bytes, keys)."""
        drop = self._drop_keys.nbytes() if self._drop_keys is not None else 0
        return self._table.nbytes() + self._small.nbytes() + self._keys.nbytes() + drop

    def forget(self, key: str) -> bool:
        """Stop matching against a recently indexed document (a later filter dropped it)."""
        return self._keys.forget(key) is not None

    def add_many(
        self, texts: Sequence[str], keys: Sequence[str], *, force: bool = False
    ) -> list[Decision]:
        """Decide for each text in order, indexing the kept ones; ``force`` indexes every text
        that is not already known (rebuilding the state of a resumed run)."""
        if not texts:
            return []
        sigs = self.hasher.signatures(texts)
        small = (sigs & np.uint32(0xFF)).astype(np.uint8)
        bkeys = self._bands.keys(sigs)
        dkeys = self._drop_bands.keys(sigs) if self._drop_bands is not None else None
        found = self._external(small, bkeys, dkeys)
        shared = self._shared(bkeys)
        local: dict[int, list[int]] = {}  # band key shared in this batch -> kept rows
        kept: list[int] = []
        number: dict[int, int] = {}  # batch row -> document number
        decisions: list[Decision] = []
        for j, key in enumerate(keys):
            cands = found.get(j)
            mine = shared.get(j)
            near = {row for k in mine for row in local.get(k, ())} if mine else None
            if near:
                order = sorted(near)
                est, dropband = self._compare(
                    small[order], small[j], dkeys[order] if dkeys is not None else None, dkeys, j
                )
                cands = (cands or []) + [
                    (number[row], e, d)
                    for row, e, d in zip(order, est.tolist(), dropband.tolist(), strict=True)
                    if e >= self._lowest
                ]
            decision = self._decide(cands, key, force) if cands else None
            if decision is None or (decision.duplicate_of is None and not decision.known):
                number[j] = doc = self._keys.append(key)
                decision = Decision(doc=doc, group_of=decision.group_of if decision else None)
                kept.append(j)
                for k in mine or ():
                    local.setdefault(k, []).append(j)
            decisions.append(decision)
        self._store(kept, small, bkeys, dkeys)
        return decisions

    # --- internals --------------------------------------------------------------------------
    def _decide(self, cands: list[tuple[int, float, bool]], key: str, force: bool) -> Decision:
        cands = [c for c in cands if c[0] not in self._keys.dead]
        for doc, est, _ in cands:
            if est >= 1.0 and self._keys[doc] == key:
                return Decision(doc=doc, known=True)
        if not force:
            drops = [(-est, doc) for doc, est, band in cands if band and est >= self.threshold]
            if drops:
                est, doc = min(drops)
                return Decision(duplicate_of=doc, similarity=-est)
        group = None
        if self.group_threshold is not None:
            similar = [doc for doc, est, _ in cands if est >= self.group_threshold]
            group = min(similar) if similar else None
        return Decision(group_of=group)

    def _compare(
        self,
        others: npt.NDArray[np.uint8],
        one: npt.NDArray[np.uint8],
        other_keys: U32 | None,
        keys: U32 | None,
        row: int | npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Estimated Jaccard similarity (corrected for chance byte matches) of each row of
        ``others`` with ``one``, and whether they share a band tuned for ``threshold``."""
        eq = others == one
        est = np.clip((eq.mean(axis=1) - 1 / 256) / (1 - 1 / 256), 0.0, 1.0)
        est[eq.all(axis=1)] = 1.0
        if other_keys is None or keys is None:
            return est, np.ones(len(eq), dtype=bool)
        return est, (other_keys == keys[row]).any(axis=1)

    @staticmethod
    def _shared(bkeys: U32) -> dict[int, list[int]]:
        """For each row with a band key that another row of the batch also has: those keys."""
        if len(bkeys) < 2:
            return {}
        flat = bkeys.ravel()
        _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        repeated = (counts[inverse.ravel()] > 1).reshape(bkeys.shape)
        rows = np.flatnonzero(repeated.any(axis=1)).tolist()
        return {j: bkeys[j][repeated[j]].tolist() for j in rows}

    def _external(
        self, small: npt.NDArray[np.uint8], bkeys: U32, dkeys: U32 | None
    ) -> dict[int, list[tuple[int, float, bool]]]:
        """Verified candidates among documents indexed before this batch, per row."""
        found: dict[int, list[tuple[int, float, bool]]] = {}
        if not len(self._keys):
            return found
        query, hits = self._table.lookup(bkeys.ravel())
        if not len(query):
            return found
        pairs = np.unique((query // bkeys.shape[1]).astype(np.uint64) << np.uint64(32) | hits)
        rows = (pairs >> np.uint64(32)).astype(np.int64)
        docs = (pairs & np.uint64(_MASK32)).astype(np.int64)
        for lo in range(0, len(rows), 8192):
            r, d = rows[lo : lo + 8192], docs[lo : lo + 8192]
            stored = self._drop_keys.take(d) if self._drop_keys is not None else None
            est, band = self._compare(self._small.take(d), small[r], stored, dkeys, r)
            ok = est >= self._lowest
            for row, doc, e, b in zip(
                r[ok].tolist(), d[ok].tolist(), est[ok].tolist(), band[ok].tolist(), strict=True
            ):
                found.setdefault(row, []).append((doc, e, b))
        return found

    def _store(
        self, kept: list[int], small: npt.NDArray[np.uint8], bkeys: U32, dkeys: U32 | None
    ) -> None:
        if not kept:
            return
        first = len(self._keys) - len(kept)
        numbers = np.arange(first, first + len(kept), dtype=np.uint32)
        self._table.insert(bkeys[kept].ravel(), np.repeat(numbers, bkeys.shape[1]))
        self._small.extend(small[kept])
        if self._drop_keys is not None and dkeys is not None:
            self._drop_keys.extend(dkeys[kept])


class _Bands:
    """A set of LSH bands (column ranges of a signature) and how to hash them into keys."""

    def __init__(self, bands: list[tuple[int, int]], salt: int = 0) -> None:
        self.bands = bands
        self._salts = np.array(
            [(salt + i + 1) * 0x9E3779B97F4A7C15 % 2**64 for i in range(len(bands))],
            dtype=np.uint64,
        )
        self._groups = [  # bands of one width are hashed together
            (
                np.array([i for i, (s, e) in enumerate(bands) if e - s == width]),
                np.array([list(range(s, e)) for s, e in bands if e - s == width]),
            )
            for width in sorted({e - s for s, e in bands})
        ]

    def keys(self, sigs: U32) -> U32:
        """One non-zero 32-bit key per (document, band)."""
        out = np.empty((len(sigs), len(self.bands)), dtype=np.uint64)
        wide = sigs.astype(np.uint64)
        for positions, columns in self._groups:
            h = np.repeat(self._salts[positions][None, :], len(sigs), axis=0)
            values = wide[:, columns]
            for c in range(columns.shape[1]):
                h ^= values[:, :, c]
                h *= np.uint64(0xBF58476D1CE4E5B9)
                h ^= h >> np.uint64(31)
            out[:, positions] = h
        keys = (out >> np.uint64(32)).astype(np.uint32)
        keys[keys == 0] = 1
        return keys
