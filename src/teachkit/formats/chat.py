"""``chat``: ``{"messages": [{"role", "content"}, ...]}``.

OpenAI's chat fine-tuning format and TRL ``SFTTrainer``'s conversational format. A preference
record's chat row ends with its chosen answer; reasoning traces are not part of chat rows.

Read, a chat row may also be a stored :class:`~teachkit.records.Record` (``id``, ``meta``,
``chosen``, ``rejected``, ``reasoning`` are kept). Every record the export writes, whatever the
format, must first make a valid chat row (:func:`validate_openai_chat`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from teachkit.formats.base import (
    MESSAGES,
    ROLES,
    Column,
    Row,
    RowError,
    RowFormat,
    conversation,
    parse_messages,
)
from teachkit.records import Record

__all__ = ["CHAT", "ChatFormat", "validate_openai_chat"]


def validate_openai_chat(row: Mapping[str, Any]) -> list[str]:
    """Problems that make ``row`` invalid for OpenAI chat fine-tuning; an empty list means valid.

    The rules: ``messages`` is a non-empty list; every message is an object whose ``role`` is
    ``system``, ``user`` or ``assistant`` and whose ``content`` is a non-blank string; at least one
    message comes from the assistant.
    """
    messages = row.get("messages") if isinstance(row, Mapping) else None
    if not isinstance(messages, list):
        return ["row has no 'messages' list"]
    if not messages:
        return ["'messages' is empty"]
    problems: list[str] = []
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            problems.append(f"message {position} is not an object")
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append(f"message {position} has role {role!r}, expected one of {ROLES}")
        content = message.get("content")
        if not isinstance(content, str):
            problems.append(f"message {position} content is not a string")
        elif not content.strip():
            problems.append(f"message {position} ({role}) has empty content")
    if not any(isinstance(m, Mapping) and m.get("role") == "assistant" for m in messages):
        problems.append("no assistant message")
    return problems


def _optional_text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is not None and not isinstance(value, str):
        raise RowError(f"field '{key}' must be a string, got {type(value).__name__}")
    return value


class ChatFormat(RowFormat):
    name = "chat"
    summary = "OpenAI chat fine-tuning and TRL SFTTrainer conversational rows"
    layout = '{"messages": [{"role", "content"}, ...]}'
    detect_order = 10
    columns: ClassVar[tuple[Column, ...]] = (Column("messages", MESSAGES),)

    def to_row(self, record: Record) -> Row:
        return {"messages": conversation(record)}

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        messages = parse_messages(row.get("messages"), "messages")
        meta = row.get("meta")
        if meta is not None and not isinstance(meta, Mapping):
            raise RowError(f"field 'meta' must be an object, got {type(meta).__name__}")
        record_id = row.get("id")
        if record_id is not None and not isinstance(record_id, str):
            raise RowError(f"field 'id' must be a string, got {type(record_id).__name__}")
        try:
            record = Record(
                messages=messages,
                meta=dict(meta or {}),
                chosen=_optional_text(row, "chosen"),
                rejected=_optional_text(row, "rejected"),
                reasoning=_optional_text(row, "reasoning"),
                id=record_id or "",
            )
        except ValueError as exc:
            raise RowError(str(exc)) from exc
        return [record]

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "messages" in row


CHAT = ChatFormat()
