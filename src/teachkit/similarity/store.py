"""Compact per-document state of the dedup indexes, and what they decide.

Streaming dedup keeps something for every kept document, so a long run's memory grows with it;
these containers keep that growth small and steady: numpy arrays in fixed-size chunks (no copy of
everything when one more row arrives), keys packed in one byte buffer, and an open-addressing table
of 32-bit keys (no Python object per entry).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Chunks", "IntCache", "KeyStore", "MultiTable"]

_CHUNK_BITS = 14  # rows per chunk: 16,384


class Chunks:
    """Rows of a fixed width appended in order and gathered by row number."""

    def __init__(self, width: int, dtype: npt.DTypeLike = np.uint8) -> None:
        self.width = width
        self.dtype = np.dtype(dtype)
        self._chunks: list[npt.NDArray[Any]] = []
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def extend(self, rows: npt.NDArray[Any]) -> None:
        size = 1 << _CHUNK_BITS
        done = 0
        while done < len(rows):
            at = self._rows & (size - 1)
            if at == 0:
                self._chunks.append(np.empty((size, self.width), dtype=self.dtype))
            take = min(size - at, len(rows) - done)
            self._chunks[-1][at : at + take] = rows[done : done + take]
            done += take
            self._rows += take

    def take(self, rows: npt.NDArray[np.integer[Any]]) -> npt.NDArray[Any]:
        out = np.empty((len(rows), self.width), dtype=self.dtype)
        chunk = rows >> _CHUNK_BITS
        low = rows & ((1 << _CHUNK_BITS) - 1)
        for c in np.unique(chunk).tolist():
            sel = chunk == c
            out[sel] = self._chunks[c][low[sel]]
        return out

    def view(self) -> list[npt.NDArray[Any]]:
        """The filled part of every chunk, in order (no copy)."""
        size = 1 << _CHUNK_BITS
        return [c[: min(size, self._rows - i * size)] for i, c in enumerate(self._chunks)]

    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._chunks)


class KeyStore:
    """Keys (record ids) by document number, about ``len(key) + 8`` bytes each.

    The numbers of the last ``recent`` keys are remembered, so a document indexed moments ago can
    be forgotten (a later filter dropped its record); forgotten numbers are in ``dead``.
    """

    def __init__(self, recent: int = 1 << 16) -> None:
        self._blob = bytearray()
        self._ends = array("Q")
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._limit = recent
        self.dead: set[int] = set()

    def __len__(self) -> int:
        return len(self._ends)

    def append(self, key: str) -> int:
        self._blob += key.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._blob))
        number = len(self._ends) - 1
        self._recent[key] = number
        if len(self._recent) > self._limit:
            self._recent.popitem(last=False)
        return number

    def __getitem__(self, number: int) -> str:
        start = self._ends[number - 1] if number else 0
        return self._blob[start : self._ends[number]].decode("utf-8", "surrogatepass")

    def forget(self, key: str) -> int | None:
        """Mark the recently appended ``key`` dead; its number, or None if it is not recent."""
        number = self._recent.pop(key, None)
        if number is not None:
            self.dead.add(number)
        return number

    def nbytes(self) -> int:
        return len(self._blob) + self._ends.itemsize * len(self._ends)


class MultiTable:
    """A multimap from non-zero uint32 keys to uint32 values: open addressing, linear probing.

    Inserts and lookups take whole arrays, so a batch costs a few numpy passes whatever its size.
    Nothing is ever removed, so a lookup scans from a key's home slot to the next empty slot.
    """

    MAX_LOAD = 0.7

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._keys = np.zeros(capacity, dtype=np.uint32)
        self._vals = np.zeros(capacity, dtype=np.uint32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def nbytes(self) -> int:
        return self._keys.nbytes + self._vals.nbytes

    def insert(self, keys: npt.NDArray[np.uint32], values: npt.NDArray[np.uint32]) -> None:
        need = self._size + len(keys)
        if need > self.MAX_LOAD * len(self._keys):
            capacity = len(self._keys) * 2
            while need > self.MAX_LOAD * capacity:
                capacity *= 2
            old_keys, old_vals = self._keys, self._vals
            self._keys = np.zeros(capacity, dtype=np.uint32)
            self._vals = np.zeros(capacity, dtype=np.uint32)
            for part_keys, part_vals in _used_parts(old_keys, old_vals):
                _place(self._keys, self._vals, self._slots(part_keys), part_keys, part_vals)
            del old_keys, old_vals
        _place(self._keys, self._vals, self._slots(keys), keys, values)
        self._size = need

    def lookup(
        self, keys: npt.NDArray[np.uint32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]:
        """Every (position in ``keys``, value) pair whose key matches."""
        mask = len(self._keys) - 1
        slot = self._slots(keys)
        stored = self._keys[slot]
        hit = np.flatnonzero(stored == keys)
        found_q = [hit]
        found_v = [self._vals[slot[hit]]]
        pending = np.flatnonzero(stored != 0)
        while len(pending):
            at = (slot[pending] + 1) & mask
            slot[pending] = at
            stored = self._keys[at]
            hit = stored == keys[pending]
            if hit.any():
                found_q.append(pending[hit])
                found_v.append(self._vals[at[hit]])
            pending = pending[stored != 0]
        return np.concatenate(found_q), np.concatenate(found_v)

    def _slots(self, keys: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
        return (keys & np.uint32(len(self._keys) - 1)).astype(np.int64)


class IntCache:
    """A bounded map from non-zero uint64 keys to uint32 values (open addressing), emptied when it
    reaches ``limit`` entries: memory stays flat however long it is used."""

    def __init__(self, limit: int = 1 << 21) -> None:
        self.limit = limit
        self._bits = 16
        self._keys = np.zeros(1 << self._bits, dtype=np.uint64)
        self._vals = np.zeros(1 << self._bits, dtype=np.uint32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def nbytes(self) -> int:
        return self._keys.nbytes + self._vals.nbytes

    def get(
        self, keys: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
        """The value of each key, and whether it was there."""
        mask = len(self._keys) - 1
        slot = self._slots(keys)
        stored = self._keys[slot]
        found = stored == keys
        values = self._vals[slot]
        pending = np.flatnonzero(~found & (stored != 0))  # most keys sit in their home slot
        while len(pending):
            at = (slot[pending] + 1) & mask
            slot[pending] = at
            stored = self._keys[at]
            hit = stored == keys[pending]
            values[pending[hit]] = self._vals[at[hit]]
            found[pending[hit]] = True
            pending = pending[(stored != 0) & ~hit]
        return values, found

    def put(self, keys: npt.NDArray[np.uint64], values: npt.NDArray[np.uint32]) -> None:
        """Add keys that are distinct and absent."""
        if self._size + len(keys) > self.limit:
            self._size = 0
            self._keys[:] = 0
        need = self._size + len(keys)
        if need > 0.6 * len(self._keys):
            while need > 0.6 * (1 << self._bits):
                self._bits += 1
            old_keys, old_vals = self._keys, self._vals
            self._keys = np.zeros(1 << self._bits, dtype=np.uint64)
            self._vals = np.zeros(1 << self._bits, dtype=np.uint32)
            for part_keys, part_vals in _used_parts(old_keys, old_vals):
                _place(self._keys, self._vals, self._slots(part_keys), part_keys, part_vals)
        _place(self._keys, self._vals, self._slots(keys), keys, values)
        self._size = need

    def _slots(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        mixed = keys * np.uint64(0x9E3779B97F4A7C15)
        return (mixed >> np.uint64(64 - self._bits)).astype(np.int64)


def _used_parts(
    keys: npt.NDArray[Any], values: npt.NDArray[np.uint32], step: int = 1 << 20
) -> Iterator[tuple[npt.NDArray[Any], npt.NDArray[np.uint32]]]:
    """The occupied entries of a table, a slice at a time (growing a table stays light)."""
    for start in range(0, len(keys), step):
        part = keys[start : start + step]
        used = part != 0
        yield part[used], values[start : start + step][used]


def _place(
    table_keys: npt.NDArray[Any],
    table_vals: npt.NDArray[np.uint32],
    slot: npt.NDArray[np.int64],
    keys: npt.NDArray[Any],
    values: npt.NDArray[np.uint32],
) -> None:
    """Put each (key, value) in the first free slot from ``slot`` on (linear probing).

    Entries racing for one free slot each write their number into it; the number that stays
    wins, the others move on. No sorting, so a round costs a few passes over the entries left.
    """
    mask = len(table_keys) - 1
    pending = np.arange(len(keys), dtype=np.int64)
    while len(pending):
        at = slot[pending]
        free = np.flatnonzero(table_keys[at] == 0)
        if len(free):
            claim_at = at[free]
            claimants = pending[free].astype(np.uint32)
            table_vals[claim_at] = claimants
            won = table_vals[claim_at] == claimants
            winners = pending[free[won]]
            table_keys[claim_at[won]] = keys[winners]
            table_vals[claim_at[won]] = values[winners]
            left = np.ones(len(pending), dtype=bool)
            left[free[won]] = False
            pending = pending[left]
        slot[pending] = (slot[pending] + 1) & mask
