"""The quality panel: every metric of a set of records (and of a real reference) in one JSON dict.

:func:`quality_panel` reads records once, in batches, and returns a JSON-serialisable dict whose
schema is :data:`teachkit.quality.schema.PANEL_SCHEMA` (documented in docs/quality.md).
:class:`PanelBuilder` is the same thing fed incrementally. The lexical metrics always work; the
embedding metrics need vectors: given (``embeddings=``, e.g. from a cache beside the run) or
computed by an encoder (the packaged all-MiniLM-L6-v2 by default, extra ``embed``). Without them
the panel says why and how to install the extra.

Every sample is drawn by :mod:`teachkit.quality.sampling` from ``config.seed``: the same records in
the same order give the same panel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from teachkit.errors import MissingExtraError
from teachkit.quality.axes import AxisCounter
from teachkit.quality.drift import (
    centroid_distance,
    cluster_coverage,
    length_divergence,
    mmd_test,
    vocabulary_divergence,
)
from teachkit.quality.embedding import Moments, as_unit, neighbour_summary, unit_rows
from teachkit.quality.encode import DEFAULT_MODEL, INSTALL, Encoder, default_encoder
from teachkit.quality.lexical import LexicalStats, Vocabulary
from teachkit.quality.panel_config import (
    PanelConfig,
)
from teachkit.quality.rouge import self_rouge_l
from teachkit.quality.sampling import StreamSample
from teachkit.records import Record, field_text

__all__ = ["SCHEMA_ID", "PanelBuilder", "PanelConfig", "quality_panel"]

SCHEMA_ID = "teachkit.quality.panel/1"
F32 = npt.NDArray[np.float32]


class _Side:
    """The accumulators of one side: synthetic records or the reference."""

    def __init__(
        self,
        config: PanelConfig,
        vocabulary: Vocabulary,
        keep_texts: StreamSample[str] | None = None,
    ) -> None:
        self.lexical = LexicalStats(vocabulary, ngrams=config.ngrams, openers=config.openers)
        self.rouge = StreamSample[str](config.rouge_sample, config.seed, "rouge")
        #: texts kept besides the ROUGE-L sample (the reference's k-means sample)
        self.texts = keep_texts if keep_texts is not None else self.rouge
        self.moments: Moments | None = None
        self.vectors: list[F32] = []
        #: the vectors of the whole side were given at once (set_vectors)
        self.given = False

    @property
    def records(self) -> int:
        return self.lexical.records

    def add(self, texts: Sequence[str], vectors: F32 | None) -> None:
        self.lexical.add(texts)
        self.texts.add(texts)
        if self.texts is not self.rouge:
            self.rouge.add(texts)
        if vectors is not None:
            unit = unit_rows(vectors)
            if self.moments is None:
                self.moments = Moments(unit.shape[1])
            self.moments.add(unit)
            self.vectors.append(unit)

    def set_vectors(self, unit: F32) -> None:
        self.moments = Moments(unit.shape[1])
        self.moments.add(unit)
        self.vectors = [unit]
        self.given = True

    def matrix(self) -> F32:
        if len(self.vectors) > 1:
            self.vectors = [np.concatenate(self.vectors)]
        return self.vectors[0] if self.vectors else np.zeros((0, 0), dtype=np.float32)

    def summary(self, config: PanelConfig) -> dict[str, Any]:
        _, sampled = self.rouge.result()
        return {
            "records": self.records,
            "empty": self.lexical.empty,
            "diversity": {
                "tokens": self.lexical.token_total,
                "vocabulary": int(np.count_nonzero(self.lexical.unigrams)),
                "distinct": self.lexical.distinct(),
                "self_rouge_l": self_rouge_l(sampled),
                "openers": self.lexical.openers(config.top_openers),
            },
            "lengths": self.lexical.lengths(),
        }


class PanelBuilder:
    """Feed records (and reference records) in batches, then take :meth:`result`.

    ``encoder`` computes vectors for batches given without ``embeddings``; None with
    ``config.embed`` loads the packaged model when first needed (unavailable without the extra).
    """

    def __init__(
        self,
        config: PanelConfig | None = None,
        *,
        encoder: Encoder | None = None,
        model: str | None = None,
    ) -> None:
        self.config = config or PanelConfig()
        self._encoder = encoder
        #: the model label reported: given, else the encoder's ``model`` attribute, else the
        #: packaged model once it is loaded (None for vectors given without a label)
        self.model = model if model is not None else getattr(encoder, "model", None)
        self.unavailable: str | None = None if self.config.embed else "switched off (embed=False)"
        self._vocabulary = Vocabulary()
        self.synthetic = _Side(self.config, self._vocabulary)
        self.reference: _Side | None = None
        self.axes = AxisCounter(self.config.axes)

    def _vectors(self, texts: Sequence[str], given: npt.ArrayLike | None) -> F32 | None:
        if self.unavailable is not None or not texts:
            return None
        if given is not None:
            vectors = np.asarray(given, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(texts):
                raise ValueError(
                    f"embeddings must have one row per record: got shape {vectors.shape} for "
                    f"{len(texts)} records"
                )
            return vectors
        if self._encoder is None:
            try:
                self._encoder = default_encoder()
                self.model = self.model or DEFAULT_MODEL
            except MissingExtraError as exc:
                self.unavailable = str(exc)
                return None
        parts = []
        try:
            for start in range(0, len(texts), self.config.batch):
                chunk = list(texts[start : start + self.config.batch])
                parts.append(np.asarray(self._encoder(chunk), dtype=np.float32))
        except MissingExtraError as exc:
            self.unavailable = str(exc)
            return None
        return np.concatenate(parts) if parts else None

    def set_embeddings(self, vectors: npt.ArrayLike, *, reference: bool = False) -> None:
        """Give the vectors of every record of one side at once, before its records (one row per
        record, in order; not copied when they are unit-length float32 already). Records added
        later are then not encoded."""
        if self.unavailable is not None:
            return
        if reference:
            self._reference_side().set_vectors(as_unit(vectors))
        else:
            self.synthetic.set_vectors(as_unit(vectors))

    def add_texts(
        self,
        texts: Sequence[str],
        *,
        axes: Iterable[Mapping[str, Any] | None] | None = None,
        embeddings: npt.ArrayLike | None = None,
    ) -> None:
        side = self.synthetic
        side.add(texts, None if side.given else self._vectors(texts, embeddings))
        self.axes.add(axes if axes is not None else [None] * len(texts))

    def add(self, records: Sequence[Record], *, embeddings: npt.ArrayLike | None = None) -> None:
        texts = [field_text(r, self.config.field) for r in records]
        self.add_texts(texts, axes=[r.meta.get("axes") for r in records], embeddings=embeddings)

    def add_reference_texts(
        self, texts: Sequence[str], *, embeddings: npt.ArrayLike | None = None
    ) -> None:
        side = self._reference_side()
        side.add(texts, None if side.given else self._vectors(texts, embeddings))

    def _reference_side(self) -> _Side:
        if self.reference is None:
            seed, sample = self.config.seed, self.config.cluster_sample
            self.reference = _Side(
                self.config, self._vocabulary, StreamSample[str](sample, seed, "kmeans")
            )
        return self.reference

    def add_reference(
        self, records: Sequence[Record], *, embeddings: npt.ArrayLike | None = None
    ) -> None:
        texts = [field_text(r, self.config.field) for r in records]
        self.add_reference_texts(texts, embeddings=embeddings)

    # --- the result -----------------------------------------------------------------------
    def _embedding(self) -> dict[str, Any]:
        side = self.synthetic
        if self.unavailable is not None or side.moments is None:
            reason = self.unavailable or "no record was embedded"
            return {"available": False, "reason": reason, "install": INSTALL}
        config = self.config
        unit = side.matrix()
        return {
            "available": True,
            "model": self.model,
            "dim": int(unit.shape[1]),
            "dispersion": side.moments.dispersion(),
            "vendi": side.moments.vendi(),
            "neighbours": neighbour_summary(
                unit,
                threshold=config.repeat_threshold,
                exact_limit=config.neighbours_exact,
                sample=config.neighbour_sample,
                seed=config.seed,
            ),
        }

    def _drift(self, reference: _Side) -> dict[str, Any]:
        config = self.config
        syn, ref = self.synthetic.lexical, reference.lexical
        out: dict[str, Any] = {
            "vocabulary_js": vocabulary_divergence(syn, ref),
            "length_js": {
                "words": length_divergence(syn.word_lengths(), ref.word_lengths()),
                "chars": length_divergence(syn.char_lengths(), ref.char_lengths()),
            },
        }
        if (
            self.unavailable is not None
            or self.synthetic.moments is None
            or reference.moments is None
        ):
            reason = self.unavailable or "no record of one side was embedded"
            out["embedding"] = {"available": False, "reason": reason, "install": INSTALL}
            return out
        x, y = self.synthetic.matrix(), reference.matrix()
        positions, texts = reference.texts.result()
        out["embedding"] = {
            "available": True,
            "centroid_distance": centroid_distance(
                self.synthetic.moments.centroid(), reference.moments.centroid()
            ),
            "mmd": mmd_test(
                x,
                y,
                sample=config.mmd_sample,
                permutations=config.mmd_permutations,
                seed=config.seed,
            ),
            "clusters": cluster_coverage(
                y,
                x,
                k=config.clusters,
                seed=config.seed,
                sample=config.cluster_sample,
                texts=texts,
                text_positions=positions,
            ),
        }
        return out

    def result(self) -> dict[str, Any]:
        """The panel (see the module docstring and docs/quality.md for the schema)."""
        panel: dict[str, Any] = {"schema": SCHEMA_ID, "config": self.config.to_dict()}
        panel.update(self.synthetic.summary(self.config))
        panel["axes"] = self.axes.result()
        panel["embedding"] = self._embedding()
        panel["reference"] = None
        panel["drift"] = None
        if self.reference is not None:
            summary = self.reference.summary(self.config)
            moments = self.reference.moments
            summary["embedding"] = (
                {"dispersion": moments.dispersion(), "vendi": moments.vendi()}
                if moments is not None and self.unavailable is None
                else None
            )
            panel["reference"] = summary
            panel["drift"] = self._drift(self.reference)
        return panel


def _batches(items: Iterable[Record], size: int) -> Iterable[list[Record]]:
    batch: list[Record] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def quality_panel(
    records: Iterable[Record],
    reference: Iterable[Record] | None = None,
    *,
    config: PanelConfig | None = None,
    encoder: Encoder | None = None,
    embeddings: npt.ArrayLike | None = None,
    reference_embeddings: npt.ArrayLike | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The quality panel of ``records`` (and their drift from ``reference``), as a JSON dict.

    ``embeddings`` / ``reference_embeddings``: one vector per record, in order (e.g. read from a
    cache); a side without them is encoded with ``encoder`` (default: the packaged MiniLM, which
    is only used when neither side's vectors are given, so that both come from one model).
    """
    if (
        reference is not None
        and encoder is None
        and (embeddings is None) != (reference_embeddings is None)
    ):
        raise ValueError(
            "Vectors were given for one side only: give both embeddings and "
            "reference_embeddings (from the same model), or an encoder for the other side."
        )
    builder = PanelBuilder(config, encoder=encoder, model=model)
    if embeddings is not None:
        builder.set_embeddings(embeddings)
    size = max(builder.config.batch, 4096)
    for batch in _batches(records, size):
        builder.add(batch)
    _check_count(embeddings, builder.synthetic.records, "embeddings")
    if reference is not None:
        if reference_embeddings is not None:
            builder.set_embeddings(reference_embeddings, reference=True)
        for batch in _batches(reference, size):
            builder.add_reference(batch)
        _check_count(
            reference_embeddings, builder._reference_side().records, "reference_embeddings"
        )
    return builder.result()


def _check_count(embeddings: npt.ArrayLike | None, count: int, name: str) -> None:
    if embeddings is not None and len(embeddings) != count:  # type: ignore[arg-type]
        rows = len(embeddings)  # type: ignore[arg-type]
        raise ValueError(f"{name} has {rows} rows for {count} records; give one vector per record")
