"""``kto``: ``{"prompt": [...], "completion": [...], "label": true|false}``.

TRL ``KTOTrainer``'s conversational *unpaired preference* format: one answer per row, labelled
desirable (``true``) or not. From a ``preference`` run's scored candidates, the export builds the
pairs its policy picks and labels each side (the chosen answers ``true``, the rejected ``false``;
an answer chosen in one pair and rejected in another is left out as ``label_conflict``); a stored
pair gives two rows. Rows carry the answer's ``score`` and the ``prompt_id``.
"""

from __future__ import annotations

from typing import ClassVar

from teachkit.formats.base import MESSAGES, Column, Row, RowError
from teachkit.formats.pair_rows import PairFormat, prompt_turns
from teachkit.records import Record

__all__ = ["KTO", "KtoFormat"]


class KtoFormat(PairFormat):
    name = "kto"
    summary = "TRL KTOTrainer unpaired preference rows: prompt, completion, label"
    layout = '{"prompt": [...], "completion": [...], "label": true}'
    unpaired = True
    columns: ClassVar[tuple[Column, ...]] = (
        Column("prompt", MESSAGES),
        Column("completion", MESSAGES),
        Column("label", "bool"),
        Column("score", "float64", optional=True),
        Column("prompt_id", "string", optional=True),
    )

    def to_row(self, record: Record) -> Row:
        pair = record.meta.get("pair")
        pair = pair if isinstance(pair, dict) else {}
        if record.chosen is None or not record.chosen.strip():
            raise RowError("record has no answer to label (no chosen answer)")
        prompt = prompt_turns(record)
        if not any(m["role"] == "user" for m in prompt):
            raise RowError("record has no user turn to use as the prompt")
        row: Row = {
            "prompt": prompt,
            "completion": [{"role": "assistant", "content": record.chosen}],
            # a chosen answer that was not labelled by pairing is a desirable one
            "label": bool(pair.get("label", True)),
        }
        if pair.get("score") is not None:
            row["score"] = pair["score"]
        if pair.get("prompt_id") is not None:
            row["prompt_id"] = pair["prompt_id"]
        return row


KTO = KtoFormat()
