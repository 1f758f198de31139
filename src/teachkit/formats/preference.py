"""``preference``: ``{"prompt": [...], "chosen": [...], "rejected": [...]}``.

TRL ``DPOTrainer``'s conversational preference format (TRL applies the chat template itself). The
prompt is the conversation up to the answer; ``chosen`` and ``rejected`` are one-message lists
holding the two answers. Only records with a chosen/rejected pair make rows.

Read, the prompt may also be a plain string and the answers plain strings (TRL's standard
preference format).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from teachkit.formats.base import (
    MESSAGES,
    Column,
    Row,
    RowError,
    RowFormat,
    new_record,
    parse_messages,
    plain_messages,
)
from teachkit.records import Message, Record

__all__ = ["PREFERENCE", "PreferenceFormat"]


def _answer(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    messages = parse_messages(value, key)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    if not answers:
        raise RowError(f"field '{key}' has no assistant message")
    return answers[-1]


class PreferenceFormat(RowFormat):
    name = "preference"
    summary = "TRL DPOTrainer conversational preference rows (records with chosen/rejected)"
    layout = '{"prompt": [...], "chosen": [...], "rejected": [...]}'
    detect_order = 30
    columns: ClassVar[tuple[Column, ...]] = (
        Column("prompt", MESSAGES),
        Column("chosen", MESSAGES),
        Column("rejected", MESSAGES),
    )

    def to_row(self, record: Record) -> Row:
        if record.chosen is None or record.rejected is None:
            raise RowError("record has no chosen/rejected pair, so it cannot be a preference row")
        if not record.chosen.strip() or not record.rejected.strip():
            raise RowError("record has an empty chosen or rejected answer")
        prompt = plain_messages(record.messages)
        while prompt and prompt[-1]["role"] == "assistant":
            prompt.pop()
        if not any(m["role"] == "user" for m in prompt):
            raise RowError("record has no user turn to use as the preference prompt")
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": record.chosen}],
            "rejected": [{"role": "assistant", "content": record.rejected}],
        }

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        prompt = row.get("prompt")
        if isinstance(prompt, str):
            messages: list[Message] = [{"role": "user", "content": prompt}]
        else:
            messages = parse_messages(prompt, "prompt")
        chosen = _answer(row.get("chosen"), "chosen")
        rejected = _answer(row.get("rejected"), "rejected")
        return [new_record(messages, chosen=chosen, rejected=rejected)]

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "prompt" in row and "chosen" in row and "rejected" in row


PREFERENCE = PreferenceFormat()
