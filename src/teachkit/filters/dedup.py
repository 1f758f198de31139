"""The ``dedup`` filter: drop a record whose text repeats, or nearly repeats, one kept earlier.

Three methods, cheapest first:

- ``exact``: the hash of the normalised text (case, spacing and typographic quotes ignored);
- ``minhash``: MinHash LSH over character (default) or word n-grams, for light edits;
- ``embedding``: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, loaded offline), for
  paraphrases that share few n-grams.

Dedup is streaming: a record is indexed as soon as it is kept, so the first of a family is kept and
the later ones are dropped with the kept record's id and the similarity. A kept record gets
``meta["group"]``: the group of the first earlier record at least ``group_threshold`` similar, or
its own id; the export's split keeps a group on one side, so near-similar records never straddle
train and validation.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from teachkit.errors import MissingExtraError
from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.records import FieldRef, Record, field_text
from teachkit.similarity.base import Decision, Index
from teachkit.similarity.embed import CosineIndex, SentenceEncoder, model_path
from teachkit.similarity.exact import ExactIndex
from teachkit.similarity.minhash import MinHashIndex
from teachkit.similarity.text import normalize

__all__ = ["DedupFilter", "DedupSpec"]

Method = Literal["exact", "minhash", "embedding"]
_THRESHOLDS = {"minhash": 0.8, "embedding": 0.9}
_GROUP_THRESHOLDS = {"minhash": 0.6, "embedding": 0.8}
_REASONS = {
    "exact": "exact_duplicate",
    "minhash": "near_duplicate",
    "embedding": "semantic_duplicate",
}
#: records handled per index call when warming up or checking many at once
_CHUNK = 4096


class DedupSpec(FilterSpecBase):
    """``filters: [{kind: dedup, method: minhash, threshold: 0.8}]``"""

    kind: Literal["dedup"] = "dedup"
    method: Method = "minhash"
    #: minimum similarity of a duplicate: Jaccard for minhash (0.8), cosine for embedding (0.9)
    threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    #: minhash: character or word n-grams, their size, and the number of permutations
    shingle: Literal["char", "word"] = "char"
    ngram: int = Field(default=5, ge=1, le=64)
    num_perm: int = Field(default=128, ge=16, le=1024)
    #: what is compared: user, assistant, system, text (all turns) or meta.<key>
    field: FieldRef = "user"
    #: stamp meta.group so near-similar records stay on one side of the train/validation split
    group: bool = True
    #: similarity that puts two kept records in one group (minhash 0.6, embedding 0.8)
    group_threshold: float | None = Field(default=None, gt=0.0, le=1.0)
    #: embedding: a local sentence-transformers model directory (default: the packaged
    #: all-MiniLM-L6-v2); nothing is ever downloaded
    model: str | None = None
    #: embedding: texts encoded per model call
    batch: int = Field(default=64, ge=1, le=4096)

    @model_validator(mode="after")
    def _consistent(self) -> DedupSpec:
        if self.method == "exact" and (self.threshold, self.group_threshold) != (None, None):
            raise ValueError(
                "exact dedup compares normalised texts and has no threshold or group_threshold; "
                "remove them or use method: minhash"
            )
        if self.method != "embedding" and self.model is not None:
            raise ValueError("model is an option of method: embedding only; remove it")
        if self.method != "exact" and self.group and self.group_threshold is not None:
            threshold = self.resolved_threshold()
            if self.group_threshold > threshold:
                raise ValueError(
                    f"group_threshold ({self.group_threshold}) is above threshold ({threshold}): "
                    "records that similar are dropped, not grouped; lower group_threshold"
                )
        return self

    def resolved_threshold(self) -> float:
        return self.threshold if self.threshold is not None else _THRESHOLDS.get(self.method, 1.0)

    def resolved_group_threshold(self) -> float | None:
        if not self.group or self.method == "exact":
            return None
        if self.group_threshold is not None:
            return self.group_threshold
        return min(_GROUP_THRESHOLDS[self.method], self.resolved_threshold())

    def build(self, ctx: FilterContext) -> DedupFilter:
        threshold, group = self.resolved_threshold(), self.resolved_group_threshold()
        index: Index
        if self.method == "exact":
            index = ExactIndex()
        elif self.method == "minhash":
            index = MinHashIndex(
                threshold,
                num_perm=self.num_perm,
                shingle=self.shingle,
                ngram=self.ngram,
                group_threshold=group,
            )
        else:
            if importlib.util.find_spec("sentence_transformers") is None:
                raise MissingExtraError("sentence-transformers", "embed", "Embedding dedup")
            encoder = SentenceEncoder(model_path(self.model, ctx.base_dir), batch=self.batch)
            index = CosineIndex(threshold, group_threshold=group, encode=encoder)
        return DedupFilter(index, method=self.method, field=self.field, name=self.name)


class DedupFilter(Filter):
    """Streaming dedup over one index (exact, MinHash LSH or embedding cosine)."""

    kind: ClassVar[str] = "dedup"
    cost: ClassVar[int] = 1

    def __init__(
        self,
        index: Index,
        *,
        method: Method = "minhash",
        field: str = "user",
        name: str | None = None,
        prepare: Callable[[str], str] = normalize,
    ) -> None:
        super().__init__(name)
        self.index = index
        self.method = method
        self.field = field
        self.reason = _REASONS[method]
        self._prepare = prepare
        #: group labels of kept documents whose group is not their own id
        self._labels: dict[int, str] = {}
        self._dropped = 0

    async def start(self) -> None:
        if isinstance(self.index, CosineIndex):
            self.index.load()

    async def check(self, record: Record) -> Verdict:
        return self.check_many([record])[0]

    def check_many(self, records: Sequence[Record]) -> list[Verdict]:
        """Verdicts for records in order, exactly as if each were checked after the previous."""
        verdicts: list[Verdict] = []
        for first in range(0, len(records), _CHUNK):
            chunk = records[first : first + _CHUNK]
            decisions = self._decide(chunk, force=False)
            verdicts += [self._verdict(r, d) for r, d in zip(chunk, decisions, strict=True)]
        return verdicts

    def remember(self, record: Record) -> None:
        """Nothing to do: a record is indexed when :meth:`check` keeps it."""

    def warm(self, records: Iterable[Record]) -> None:
        """Index the accepted records of a resumed run (none of them is dropped)."""
        batch: list[Record] = []
        for record in records:
            batch.append(record)
            if len(batch) == _CHUNK:
                self._warm_batch(batch)
                batch = []
        if batch:
            self._warm_batch(batch)

    def forget(self, record: Record) -> bool:
        """A record this filter kept was dropped later in the chain: stop matching against it."""
        return self.index.forget(record.id)

    def stats(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "indexed": len(self.index),
            "dropped": self._dropped,
            "state_bytes": self.index.nbytes(),
        }

    # --- internals --------------------------------------------------------------------------
    def _decide(self, records: Sequence[Record], *, force: bool) -> list[Decision]:
        texts = [self._prepare(field_text(r, self.field)) for r in records]
        return self.index.add_many(texts, [r.id for r in records], force=force)

    def _warm_batch(self, records: list[Record]) -> None:
        for record, decision in zip(records, self._decide(records, force=True), strict=True):
            if decision.doc is not None and not decision.known:
                self._label(record, decision, stamp=False)

    def _verdict(self, record: Record, decision: Decision) -> Verdict:
        if decision.duplicate_of is not None:
            self._dropped += 1
            detail = {
                "duplicate_of": self.index.key(decision.duplicate_of),
                "similarity": round(decision.similarity, 4),
                "method": self.method,
            }
            return Drop(self.reason, detail)
        self._label(record, decision, stamp=True)
        return KEEP

    def _label(self, record: Record, decision: Decision, *, stamp: bool) -> None:
        """Set the record's group: one it already has, else that of the first similar kept
        record, else its own id; remember it for the records that will match this one."""
        if decision.doc is None:
            return
        current = record.meta.get("group")
        if decision.known:
            label = self._labels.get(decision.doc, record.id)
        elif isinstance(current, str) and current and current != record.id:
            label = current
        elif decision.group_of is not None:
            label = self._labels.get(decision.group_of) or self.index.key(decision.group_of)
        else:
            label = record.id
        if label != record.id:
            self._labels[decision.doc] = label
        if stamp and (label != record.id or not current):
            record.meta["group"] = label
