"""Conversions between :class:`~teachkit.records.Record` and the row shapes trainers read.

Row shapes (one JSON object per line):

``chat``
    ``{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}`` — OpenAI's
    fine-tuning format and TRL ``SFTTrainer``'s conversational format.
``preference``
    ``{"prompt": [messages...], "chosen": [assistant message], "rejected": [assistant message]}`` —
    TRL ``DPOTrainer``'s conversational preference format (the prompt is the conversation up to the
    answer; ``chosen``/``rejected`` are one-message lists holding the two answers).
``alpaca``
    ``{"instruction": str, "input": str, "output": str}``, plus ``"system"`` when the record has a
    system turn and ``"history": [[user, assistant], ...]`` for earlier turns of a multi-turn chat.
``sharegpt``
    ``{"conversations": [{"from": "system"|"human"|"gpt", "value": str}, ...]}``.

Conversions that cannot be made raise :class:`RowError`; the export writes such records to
``skipped.jsonl`` with the message as the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from teachkit.records import Message, Record

__all__ = [
    "ROW_FORMATS",
    "RowError",
    "alpaca_row",
    "chat_row",
    "preference_row",
    "record_from_alpaca",
    "record_from_chat",
    "record_from_preference",
    "record_from_self_instruct",
    "record_from_sharegpt",
    "sharegpt_row",
    "to_row",
    "validate_openai_chat",
]

_ROLES = ("system", "user", "assistant")
_TO_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt"}
_FROM_SHAREGPT = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}


class RowError(ValueError):
    """A record cannot be turned into a row of the asked format (or a row into a record)."""


# --- validation ---------------------------------------------------------------------------------
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
        if role not in _ROLES:
            problems.append(f"message {position} has role {role!r}, expected one of {_ROLES}")
        content = message.get("content")
        if not isinstance(content, str):
            problems.append(f"message {position} content is not a string")
        elif not content.strip():
            problems.append(f"message {position} ({role}) has empty content")
    if not any(isinstance(m, Mapping) and m.get("role") == "assistant" for m in messages):
        problems.append("no assistant message")
    return problems


# --- record -> row ------------------------------------------------------------------------------
def _plain(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _conversation(record: Record) -> list[dict[str, str]]:
    """The record's turns; a preference record without an answer turn gets its chosen answer."""
    messages = _plain(record.messages)
    if record.chosen is not None and (not messages or messages[-1]["role"] != "assistant"):
        messages.append({"role": "assistant", "content": record.chosen})
    return messages


def chat_row(record: Record) -> dict[str, Any]:
    """``{"messages": [...]}``; reasoning traces are not part of chat rows."""
    return {"messages": _conversation(record)}


def preference_row(record: Record) -> dict[str, Any]:
    """TRL's conversational preference row. Needs ``chosen`` and ``rejected``."""
    if record.chosen is None or record.rejected is None:
        raise RowError("record has no chosen/rejected pair, so it cannot be a preference row")
    if not record.chosen.strip() or not record.rejected.strip():
        raise RowError("record has an empty chosen or rejected answer")
    prompt = _plain(record.messages)
    while prompt and prompt[-1]["role"] == "assistant":
        prompt.pop()
    if not any(m["role"] == "user" for m in prompt):
        raise RowError("record has no user turn to use as the preference prompt")
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": record.chosen}],
        "rejected": [{"role": "assistant", "content": record.rejected}],
    }


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


def alpaca_row(record: Record) -> dict[str, Any]:
    """Alpaca row: the last exchange is instruction/output; earlier ones go to ``history``."""
    system, pairs = _pairs(_conversation(record))
    instruction, output = pairs[-1]
    row: dict[str, Any] = {"instruction": instruction, "input": "", "output": output}
    if system:
        row["system"] = system
    if len(pairs) > 1:
        row["history"] = pairs[:-1]
    return row


def sharegpt_row(record: Record) -> dict[str, Any]:
    conversation = _conversation(record)
    return {
        "conversations": [
            {"from": _TO_SHAREGPT[m["role"]], "value": m["content"]} for m in conversation
        ]
    }


_WRITERS: dict[str, Callable[[Record], dict[str, Any]]] = {
    "chat": chat_row,
    "preference": preference_row,
    "alpaca": alpaca_row,
    "sharegpt": sharegpt_row,
}

#: the row shapes the export can write
ROW_FORMATS: tuple[str, ...] = tuple(_WRITERS)


def to_row(record: Record, row_format: str) -> dict[str, Any]:
    """The record as a row of ``row_format`` (one of :data:`ROW_FORMATS`)."""
    try:
        convert = _WRITERS[row_format]
    except KeyError:
        raise RowError(
            f"unknown row format {row_format!r}; expected one of {ROW_FORMATS}"
        ) from None
    return convert(record)


# --- row -> record ------------------------------------------------------------------------------
def _text(row: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = row.get(key, None if required else "")
    if value is None:
        value = ""
        if required:
            raise RowError(f"field '{key}' is missing")
    if not isinstance(value, str):
        raise RowError(f"field '{key}' must be a string, got {type(value).__name__}")
    return value


def _user_text(instruction: str, extra_input: str) -> str:
    """The user turn of an instruction-style row: the instruction, then the input if any."""
    return f"{instruction}\n\n{extra_input}" if extra_input.strip() else instruction


def _messages(value: Any, key: str) -> list[Message]:
    if not isinstance(value, list):
        raise RowError(f"field '{key}' must be a list of messages")
    out: list[Message] = []
    for position, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise RowError(f"{key}[{position}] is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise RowError(f"{key}[{position}] has role {role!r}, expected one of {_ROLES}")
        if not isinstance(content, str):
            raise RowError(f"{key}[{position}] content must be a string")
        out.append({"role": role, "content": content})
    return out


def _record(messages: list[Message], meta: dict[str, Any], **extra: Any) -> Record:
    try:
        return Record(messages=messages, meta=meta, **extra)
    except ValueError as exc:
        raise RowError(str(exc)) from exc


def record_from_chat(row: Mapping[str, Any]) -> Record:
    """A chat row or a stored Record (``id``/``meta``/``chosen``... are kept when present)."""
    messages = _messages(row.get("messages"), "messages")
    data = dict(row)
    data["messages"] = messages
    try:
        return Record.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise RowError(str(exc)) from exc


def _answer(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    messages = _messages(value, key)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    if not answers:
        raise RowError(f"field '{key}' has no assistant message")
    return answers[-1]


def record_from_preference(row: Mapping[str, Any]) -> Record:
    """A TRL preference row, conversational or plain-text (``prompt`` as a string)."""
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        messages: list[Message] = [{"role": "user", "content": prompt}]
    else:
        messages = _messages(prompt, "prompt")
    chosen = _answer(row.get("chosen"), "chosen")
    rejected = _answer(row.get("rejected"), "rejected")
    return _record(messages, {}, chosen=chosen, rejected=rejected)


def record_from_alpaca(row: Mapping[str, Any]) -> Record:
    """Alpaca row: user = instruction (+ blank line + input when non-empty), assistant = output."""
    messages: list[Message] = []
    system = _text(row, "system", required=False)
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
    user = _user_text(_text(row, "instruction"), _text(row, "input", required=False))
    messages += [
        {"role": "user", "content": user},
        {"role": "assistant", "content": _text(row, "output")},
    ]
    return _record(messages, {})


def record_from_sharegpt(row: Mapping[str, Any]) -> Record:
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
    return _record(messages, {})


def record_from_self_instruct(row: Mapping[str, Any]) -> list[Record]:
    """Self-Instruct task: one record per instance; all of them share the task as their group."""
    instruction = _text(row, "instruction")
    instances = row.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RowError("field 'instances' must be a non-empty list of {input, output}")
    records: list[Record] = []
    for position, instance in enumerate(instances):
        if not isinstance(instance, Mapping):
            raise RowError(f"instances[{position}] is not an object")
        user = _user_text(instruction, _text(instance, "input", required=False))
        messages: list[Message] = [
            {"role": "user", "content": user},
            {"role": "assistant", "content": _text(instance, "output")},
        ]
        records.append(_record(messages, {}))
    group = records[0].id
    for record in records[1:]:
        record.meta["group"] = group
    return records
