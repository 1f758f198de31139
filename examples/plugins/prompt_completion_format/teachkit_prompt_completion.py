"""An export format: TRL's standard prompt-completion rows ``{"prompt": str, "completion": str}``.

Only single-turn records make rows (one user turn, one answer; no system turn)::

    teachkit export runs/my-run --format prompt_completion
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from teachkit.formats.base import Column, Row, RowError, RowFormat, new_record, text_field
from teachkit.records import Record


class PromptCompletionFormat(RowFormat):
    name = "prompt_completion"
    summary = "TRL prompt-completion rows (single-turn records)"
    layout = '{"prompt", "completion"}'
    columns: ClassVar[tuple[Column, ...]] = (
        Column("prompt", "string"),
        Column("completion", "string"),
    )

    def to_row(self, record: Record) -> Row:
        roles = [m["role"] for m in record.messages]
        if roles != ["user", "assistant"]:
            raise RowError(
                f"a prompt_completion row needs exactly one user turn and one answer, got {roles}"
            )
        return {"prompt": record.user, "completion": record.assistant}

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        prompt, completion = text_field(row, "prompt"), text_field(row, "completion")
        return [
            new_record(
                [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
            )
        ]

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "prompt" in row and "completion" in row


PROMPT_COMPLETION = PromptCompletionFormat()
