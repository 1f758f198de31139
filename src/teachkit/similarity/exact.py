"""Exact dedup: a 64-bit hash of the normalised text, one dict entry per kept document."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from teachkit.similarity.base import Decision
from teachkit.similarity.store import KeyStore

__all__ = ["ExactIndex"]


class ExactIndex:
    """Exact dedup by a 64-bit hash of the normalised text (one dict entry per kept record)."""

    threshold = 1.0

    def __init__(self) -> None:
        self._docs: dict[int, int] = {}
        self._keys = KeyStore()

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, doc: int) -> str:
        return self._keys[doc]

    def nbytes(self) -> int:
        return self._keys.nbytes() + 100 * len(self._docs)  # dict slot and int objects

    def forget(self, key: str) -> bool:
        return self._keys.forget(key) is not None

    def add_many(
        self, texts: Sequence[str], keys: Sequence[str], *, force: bool = False
    ) -> list[Decision]:
        out: list[Decision] = []
        for text, key in zip(texts, keys, strict=True):
            data = text.encode("utf-8", "surrogatepass")
            digest = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
            doc = self._docs.get(digest)
            if doc is not None and doc in self._keys.dead:
                doc = None
            if doc is not None and self._keys[doc] == key:
                out.append(Decision(doc=doc, known=True))
            elif doc is not None and not force:
                out.append(Decision(duplicate_of=doc, similarity=1.0))
            else:
                number = self._keys.append(key)
                if doc is None:
                    self._docs[digest] = number
                out.append(Decision(doc=number))
        return out
