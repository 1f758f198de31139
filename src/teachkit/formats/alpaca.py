"""``alpaca``: ``{"instruction", "input", "output"}`` (plus ``system`` and ``history``).

The user turn is the instruction and ``input`` is empty; a system turn adds ``"system"``, and a
multi-turn chat puts its earlier exchanges into ``"history": [[user, assistant], ...]`` (the
convention of LLaMA-Factory). Chats whose turns do not alternate user/assistant cannot be rows.

Read, the user turn is the instruction, plus a blank line and the input when it is not empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from teachkit.formats.base import (
    Column,
    Row,
    RowError,
    RowFormat,
    conversation,
    instruction_text,
    new_record,
    text_field,
)
from teachkit.records import Message, Record

__all__ = ["ALPACA", "AlpacaFormat"]


def _pairs(messages: list[dict[str, str]]) -> tuple[str, list[list[str]]]:
    """Split a chat into (system, [[user, assistant], ...]); raise when turns do not alternate."""
    system = ""
    pairs: list[list[str]] = []
    pending: str | None = None
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "system":
            if pairs or pending is not None or system:
                raise RowError("a system turn after the first turn has no alpaca form")
            system = content
        elif role == "user":
            if pending is not None:
                raise RowError("two user turns in a row have no alpaca form")
            pending = content
        else:
            if pending is None:
                raise RowError("an assistant turn without a user turn before it has no alpaca form")
            pairs.append([pending, content])
            pending = None
    if pending is not None or not pairs:
        raise RowError("an alpaca row needs the chat to end with an assistant answer")
    return system, pairs


class AlpacaFormat(RowFormat):
    name = "alpaca"
    summary = "Alpaca instruction rows (LLaMA-Factory: system and history for multi-turn chats)"
    layout = '{"instruction", "input", "output"}'
    detect_order = 50
    columns: ClassVar[tuple[Column, ...]] = (
        Column("instruction", "string"),
        Column("input", "string"),
        Column("output", "string"),
        Column("system", "string", optional=True),
        Column("history", [["string"]], optional=True),
    )

    def to_row(self, record: Record) -> Row:
        """The last exchange is instruction/output; earlier ones go to ``history``."""
        system, pairs = _pairs(conversation(record))
        instruction, output = pairs[-1]
        row: Row = {"instruction": instruction, "input": "", "output": output}
        if system:
            row["system"] = system
        if len(pairs) > 1:
            row["history"] = pairs[:-1]
        return row

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        messages: list[Message] = []
        system = text_field(row, "system", required=False)
        if system:
            messages.append({"role": "system", "content": system})
        history = row.get("history") or []
        if not isinstance(history, list):
            raise RowError("field 'history' must be a list of [user, assistant] pairs")
        for pair in history:
            if not (
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            ):
                raise RowError("field 'history' must be a list of [user, assistant] pairs")
            messages += [
                {"role": "user", "content": pair[0]},
                {"role": "assistant", "content": pair[1]},
            ]
        user = instruction_text(
            text_field(row, "instruction"), text_field(row, "input", required=False)
        )
        messages += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": text_field(row, "output")},
        ]
        return [new_record(messages)]

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "instruction" in row and "output" in row


ALPACA = AlpacaFormat()
