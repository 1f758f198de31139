"""``sharegpt``: ``{"conversations": [{"from": "system" | "human" | "gpt", "value"}, ...]}``.

Read, ``from`` may also be ``user`` or ``assistant``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from teachkit.formats.base import Column, Row, RowError, RowFormat, conversation, new_record
from teachkit.records import Message, Record

__all__ = ["SHAREGPT", "ShareGPTFormat"]

_TO_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}
_FROM_SHAREGPT = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}


class ShareGPTFormat(RowFormat):
    name = "sharegpt"
    summary = "ShareGPT conversations (human/gpt turns)"
    layout = '{"conversations": [{"from", "value"}, ...]}'
    detect_order = 20
    columns: ClassVar[tuple[Column, ...]] = (
        Column("conversations", [{"from": "string", "value": "string"}]),
    )

    def to_row(self, record: Record) -> Row:
        return {
            "conversations": [
                {"from": _TO_SHAREGPT[m["role"]], "value": m["content"]}
                for m in conversation(record)
            ]
        }

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        turns = row.get("conversations")
        if not isinstance(turns, list):
            raise RowError("field 'conversations' must be a list")
        messages: list[Message] = []
        for position, turn in enumerate(turns):
            if not isinstance(turn, Mapping):
                raise RowError(f"conversations[{position}] is not an object")
            speaker, value = turn.get("from"), turn.get("value")
            if speaker not in _FROM_SHAREGPT:
                raise RowError(
                    f"conversations[{position}] has 'from' {speaker!r}, expected human/gpt/system"
                )
            if not isinstance(value, str):
                raise RowError(f"conversations[{position}] value must be a string")
            messages.append({"role": _FROM_SHAREGPT[speaker], "content": value})
        return [new_record(messages)]

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "conversations" in row


SHAREGPT = ShareGPTFormat()
