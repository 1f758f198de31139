"""The ROUGE-L novelty filter: drop a record too close to one already kept.

A record is dropped when the highest ROUGE-L between its text (by default the instruction:
``meta["instruction"]``, else the user turn) and any kept record, or any text of the optional
``against`` file, is above ``threshold`` (strict, as in Self-Instruct). Kept records join the pool
when the whole chain accepts them, so the decisions are those of the classic one-at-a-time loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from teachkit.filters.base import KEEP, Drop, Filter, FilterContext, FilterSpecBase, Verdict
from teachkit.formats.seeds import load_seed_tasks
from teachkit.recipe.paths import InputPath
from teachkit.records import Record
from teachkit.similarity.rouge import RougeLIndex

__all__ = ["NoveltyFilter", "NoveltySpec"]

Field_ = Literal["instruction", "user", "assistant", "text"]


class NoveltySpec(FilterSpecBase):
    """``filters: [{kind: novelty, threshold: 0.7, field: instruction, against: seeds.jsonl}]``"""

    kind: Literal["novelty"] = "novelty"
    #: drop when the highest ROUGE-L F-measure is above this
    threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    #: what is compared: the instruction, the user or assistant turn, or all turns
    field: Field_ = "instruction"
    #: a JSONL file of tasks (Self-Instruct, instruction/input/output or chat) that starts the pool
    against: InputPath | None = None

    def build(self, ctx: FilterContext) -> NoveltyFilter:
        reference: list[str] = []
        if self.against is not None:
            tasks = load_seed_tasks(self.against, ctx.base_dir, ctx.allowed_paths)
            reference = [task.instruction for task in tasks]
        return NoveltyFilter(self.threshold, self.field, reference, name=self.name)


def field_text(record: Record, field: Field_) -> str:
    """The part of ``record`` that the filter compares."""
    if field == "instruction":
        instruction = record.meta.get("instruction")
        return instruction if isinstance(instruction, str) else record.user
    if field == "user":
        return record.user
    if field == "assistant":
        return record.assistant
    return record.text()


class NoveltyFilter(Filter):
    kind = "novelty"
    cost = 1

    def __init__(
        self,
        threshold: float = 0.7,
        field: Field_ = "instruction",
        reference: Iterable[str] = (),
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.threshold = threshold
        self.field: Field_ = field
        self.index = RougeLIndex(reference)
        self.n_reference = len(self.index)
        self.checked = 0
        self.dropped = 0
        self._bins: Counter[int] = Counter()

    async def check(self, record: Record) -> Verdict:
        self.checked += 1
        best, position = self.index.max_score(field_text(record, self.field))
        self._bins[min(9, int(best * 10))] += 1
        if best > self.threshold:
            self.dropped += 1
            return Drop(
                "too_similar",
                {"rouge_l": best, "most_similar": self.index.texts[position][:300]},
            )
        record.meta.setdefault("scores", {})["rouge_l_max"] = best
        return KEEP

    def remember(self, record: Record) -> None:
        self.index.add(field_text(record, self.field))

    def stats(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "dropped": self.dropped,
            "pool": len(self.index),
            "reference": self.n_reference,
            "rouge_max_histogram": {
                f"{b / 10:.1f}-{(b + 1) / 10:.1f}": self._bins[b] for b in range(10)
            },
        }
