"""``preference``: ``{"prompt": [...], "chosen": [...], "rejected": [...]}``.

TRL ``DPOTrainer``'s conversational preference format (TRL applies the chat template itself). The
prompt is the conversation up to the answer; ``chosen`` and ``rejected`` are one-message lists
holding the two answers. Records with a chosen/rejected pair make rows; the scored candidates of
a ``preference`` run are paired first, at export time (:mod:`teachkit.formats.pairs`), and their
rows also carry ``score_chosen``, ``score_rejected``, ``margin`` and ``prompt_id``.

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
    new_record,
    parse_messages,
)
from teachkit.formats.pair_rows import PairFormat, pair_facts, prompt_turns
from teachkit.records import Message, Record

__all__ = ["PREFERENCE", "SCORE_COLUMNS", "PreferenceFormat", "pair_answers"]

#: the columns a scored pair adds to every preference layout
SCORE_COLUMNS: tuple[Column, ...] = (
    Column("score_chosen", "float64", optional=True),
    Column("score_rejected", "float64", optional=True),
    Column("margin", "float64", optional=True),
    Column("prompt_id", "string", optional=True),
)


def _answer(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    messages = parse_messages(value, key)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    if not answers:
        raise RowError(f"field '{key}' has no assistant message")
    return answers[-1]


def pair_answers(record: Record) -> tuple[list[Message], str, str]:
    """(prompt turns, chosen, rejected) of a pair record; :class:`RowError` when it is none."""
    if record.chosen is None or record.rejected is None:
        raise RowError("record has no chosen/rejected pair, so it cannot be a preference row")
    if not record.chosen.strip() or not record.rejected.strip():
        raise RowError("record has an empty chosen or rejected answer")
    prompt = prompt_turns(record)
    if not any(m["role"] == "user" for m in prompt):
        raise RowError("record has no user turn to use as the preference prompt")
    return prompt, record.chosen, record.rejected


class PreferenceFormat(PairFormat):
    name = "preference"
    summary = "TRL DPOTrainer conversational preference rows (records with chosen/rejected)"
    layout = '{"prompt": [...], "chosen": [...], "rejected": [...]}'
    detect_order = 30
    columns: ClassVar[tuple[Column, ...]] = (
        Column("prompt", MESSAGES),
        Column("chosen", MESSAGES),
        Column("rejected", MESSAGES),
        *SCORE_COLUMNS,
    )

    def to_row(self, record: Record) -> Row:
        prompt, chosen, rejected = pair_answers(record)
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            **pair_facts(record),
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
