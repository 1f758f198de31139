"""Seeded, grouped train/validation split.

Records that the dedup stage found similar share ``meta["group"]`` (the id of the first record
of their similarity group); a record without a group is a group of its own. A whole group goes to
one side, so near-duplicates never straddle train and validation.

The rule for the validation size (documented in docs/export.md):

1. the target is ``round(val_fraction * n)`` (halves round up), at least 1 when
   ``val_fraction > 0`` and ``n >= 2``, and at most ``n - 1`` so train is never empty;
2. groups are visited in a seeded pseudo-random order (a hash of seed and group id, so the
   order of the input does not matter) and a group goes to validation when it fits into the room
   left below the target;
3. so validation never exceeds the target, equals it when every group is a single record, and
   otherwise falls short only by less than the size of the smallest group left in train.

Within each side the rows are ordered by a hash of seed and record id: the same seed gives the
same files whatever order the run stored its records in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from teachkit.records import Record

__all__ = ["Split", "group_of", "grouped_split", "order_key", "seeded_order", "validation_target"]


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Record]
    validation: list[Record]


def group_of(record: Record) -> str:
    """The similarity group of ``record``: ``meta["group"]``, or its own id when it has none."""
    group = record.meta.get("group")
    return group if isinstance(group, str) and group else record.id


def order_key(seed: int, name: str) -> bytes:
    """A seeded sort key for ``name`` that does not depend on the Python hash seed."""
    return hashlib.blake2b(f"{seed}\x00{name}".encode(), digest_size=8).digest()


def seeded_order(records: Sequence[Record], seed: int) -> list[Record]:
    """``records`` in a seeded order fixed by their ids (ties keep their input order)."""
    indexed = sorted(range(len(records)), key=lambda i: (order_key(seed, records[i].id), i))
    return [records[i] for i in indexed]


def validation_target(n: int, val_fraction: float) -> int:
    """How many of ``n`` records validation should hold (see the module docstring)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if n < 2 or val_fraction == 0.0:
        return 0
    target = math.floor(val_fraction * n + 0.5)
    return min(max(target, 1), n - 1)


def grouped_split(records: Sequence[Record], val_fraction: float, seed: int = 0) -> Split:
    """Split ``records`` so that no group straddles train and validation."""
    target = validation_target(len(records), val_fraction)
    members: dict[str, list[Record]] = {}
    for record in records:
        members.setdefault(group_of(record), []).append(record)
    room = target
    validation: list[Record] = []
    train: list[Record] = []
    for group in sorted(members, key=lambda g: order_key(seed, g)):
        size = len(members[group])
        if size <= room:
            validation += members[group]
            room -= size
        else:
            train += members[group]
    return Split(train=seeded_order(train, seed), validation=seeded_order(validation, seed))
