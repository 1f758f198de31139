"""What the preference formats share: the normalisation both sides of a pair get, the prompt
turns, the score columns, and the :class:`PairFormat` marker that makes the export pair scored
candidates first (:mod:`teachkit.formats.pairs`)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from teachkit.formats.base import RowFormat, plain_messages
from teachkit.records import Message, Record

__all__ = ["COMPARISON_REASONS", "PairFormat", "normalise", "pair_facts", "prompt_turns"]

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
#: how a pairwise comparison that does not support a pair is reported
COMPARISON_REASONS = {
    "tie": "judged_tie",
    "disagree": "order_disagreement",
    "unparseable": "judge_unparseable",
    "failed": "judge_unparseable",
}


class PairFormat(RowFormat):
    """A row format whose rows are preference pairs (or, ``unpaired``, labelled answers): the
    export builds them from a prompt's scored candidates before converting records to rows."""

    #: True for layouts of single labelled answers (KTO) instead of pairs
    unpaired: ClassVar[bool] = False


def normalise(text: str, think: str = "strip") -> tuple[str, str | None]:
    """``(text, problem)``: the answer as both sides of a pair get it, or why it cannot be one.

    Line endings become ``\\n``, trailing spaces go, empty ``<think></think>`` blocks are removed
    (always, from both sides); ``think="strip"`` removes every reasoning block, ``"require"``
    needs a non-empty one. Problems: ``empty``, ``unclosed_think``, ``missing_think``.
    """
    text = _TRAILING.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _THINK.sub(lambda m: m[0] if m[1].strip() else "", text)
    if "<think>" in _THINK.sub("", text):
        return text.strip(), "unclosed_think"
    if think == "strip":
        text = _THINK.sub("", text)
    elif think == "require" and not _THINK.search(text):
        return text.strip(), "missing_think"
    text = text.strip()
    return text, None if text else "empty"


def prompt_turns(record: Record) -> list[Message]:
    """The record's turns up to its answer: what both sides of a pair answer."""
    turns = plain_messages(record.messages)
    while turns and turns[-1]["role"] == "assistant":
        turns.pop()
    return turns


def pair_facts(record: Record) -> dict[str, Any]:
    """The score columns of a pair record (empty for a pair that came without scores)."""
    pair = record.meta.get("pair")
    if not isinstance(pair, dict):
        return {}
    return {
        "score_chosen": pair.get("score_chosen"),
        "score_rejected": pair.get("score_rejected"),
        "margin": pair.get("margin"),
        "prompt_id": pair.get("prompt_id"),
    }
