"""The contract every similarity index keeps: add documents in order, say which repeat.

An index holds the kept documents of a stream. :meth:`Index.add_many` takes texts (already
normalised) with their keys (record ids) and decides, in order, for each one whether it duplicates
a kept document (then it is not added) or is kept (then it is added and later texts are compared
with it). The decisions of one call over many texts are exactly those of one call per text in the
same order, so callers may batch freely. ``force`` adds every text (a resumed run re-indexing the
records it accepted before). ``forget`` removes a kept document whose record a later step dropped.

The indexes: :class:`~teachkit.similarity.exact.ExactIndex` (hash of the normalised text),
:class:`~teachkit.similarity.minhash.MinHashIndex` (MinHash LSH over n-grams) and
:class:`~teachkit.similarity.embed.CosineIndex` (cosine of sentence embeddings).
:class:`~teachkit.similarity.rouge.RougeLIndex` answers scores rather than decisions and is used by
the novelty filter, the decontaminator and the quality metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Decision", "Index"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a dedup index decided for one document.

    ``duplicate_of`` (with ``similarity``) names the kept document it duplicates; otherwise the
    document is kept as number ``doc`` and ``group_of`` is the earliest kept document at least
    ``group_threshold`` similar (None: none). ``known``: that very key was indexed before.
    """

    doc: int | None = None
    duplicate_of: int | None = None
    similarity: float = 0.0
    group_of: int | None = None
    known: bool = False


@runtime_checkable
class Index(Protocol):
    """A streaming dedup index (see the module docstring)."""

    #: the similarity at or above which a document is a duplicate
    threshold: float

    def __len__(self) -> int:
        """Documents kept (forgotten ones included until they are reused)."""

    def add_many(
        self, texts: Sequence[str], keys: Sequence[str], *, force: bool = False
    ) -> list[Decision]:
        """Decide for each text in order; kept texts are added."""

    def key(self, doc: int) -> str:
        """The key of kept document number ``doc``."""

    def forget(self, key: str) -> bool:
        """Stop matching against the document kept under ``key``; True when it was found."""

    def nbytes(self) -> int:
        """Memory held by the index, in bytes (approximate)."""
