"""Seeded samples of a stream that do not depend on how the stream is batched.

Every sampled quality metric draws its records here: position ``i`` of a stream gets the key
``mix(i xor mix(seed, purpose))`` (SplitMix64's finaliser, a bijection of 64-bit integers) and a
sample of size ``k`` is the ``k`` positions with the smallest keys. That is a uniform sample
without replacement, the same for the same seed, purpose and stream length, whether the stream
arrives in one batch or many, and whether it is drawn all at once (:func:`sample_positions`) or
while streaming (:class:`StreamSample`). Distinct purposes (``"rouge"``, ``"mmd"``, ...) give
independent samples from one seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["StreamSample", "sample_keys", "sample_positions"]

T = TypeVar("T")
U64 = npt.NDArray[np.uint64]


def _mix(x: U64) -> U64:
    """SplitMix64's output function, element-wise (wrapping uint64 arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _offset(seed: int, purpose: str) -> np.uint64:
    digest = hashlib.blake2b(f"{seed}\x00{purpose}".encode(), digest_size=8).digest()
    value: np.uint64 = _mix(np.array([int.from_bytes(digest, "little")], dtype=np.uint64))[0]
    return value


def sample_keys(positions: npt.NDArray[np.int64], seed: int, purpose: str) -> U64:
    """The sampling key of each stream position (distinct positions have distinct keys)."""
    return _mix(positions.astype(np.uint64) ^ _offset(seed, purpose))


def sample_positions(n: int, k: int, seed: int, purpose: str) -> npt.NDArray[np.int64]:
    """A seeded uniform sample of ``min(k, n)`` positions of ``range(n)``, in increasing order."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = sample_keys(np.arange(n, dtype=np.int64), seed, purpose)
    chosen = np.argpartition(keys, k - 1)[:k]
    return np.sort(chosen).astype(np.int64)


class StreamSample(Generic[T]):
    """The items at :func:`sample_positions` ``(n, k, seed, purpose)`` of a stream of ``n`` items,
    kept while the stream is read (at most ``2 k`` items held at once)."""

    def __init__(self, k: int, seed: int, purpose: str) -> None:
        self.k = k
        self.seed = seed
        self.purpose = purpose
        self.seen = 0
        self._keys = np.zeros(0, dtype=np.uint64)
        self._positions = np.zeros(0, dtype=np.int64)
        self._items: list[T] = []

    def add(self, items: Sequence[T]) -> None:
        if not items:
            return
        positions = np.arange(self.seen, self.seen + len(items), dtype=np.int64)
        self.seen += len(items)
        if self.k <= 0:
            return
        keys = sample_keys(positions, self.seed, self.purpose)
        if len(self._keys) >= self.k:  # only keys below the current k-th smallest can enter
            bound = np.partition(self._keys, self.k - 1)[self.k - 1]
            wanted = np.flatnonzero(keys < bound)
        else:
            wanted = np.arange(len(items))
        if not len(wanted):
            return
        self._keys = np.concatenate([self._keys, keys[wanted]])
        self._positions = np.concatenate([self._positions, positions[wanted]])
        self._items.extend(items[int(i)] for i in wanted)
        if len(self._keys) > 2 * self.k:
            self._prune()

    def _prune(self) -> None:
        keep = np.sort(np.argpartition(self._keys, self.k - 1)[: self.k])
        self._keys = self._keys[keep]
        self._positions = self._positions[keep]
        self._items = [self._items[int(i)] for i in keep]

    def result(self) -> tuple[npt.NDArray[np.int64], list[T]]:
        """The sampled positions (increasing) and their items."""
        if len(self._keys) > self.k:
            self._prune()
        order = np.argsort(self._positions, kind="stable")
        return self._positions[order], [self._items[int(i)] for i in order]
