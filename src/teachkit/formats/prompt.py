"""``prompt``: ``{"prompt": "..."}`` or ``{"prompt": [...]}``, prompts without answers (read only).

TRL's *prompt-only* layout: what a ``preference`` (or any prompt-file) recipe reads its prompts
from. The prompt is a string (one user turn) or a list of messages; rows that also hold
``chosen``/``rejected`` or ``completion``/``label`` belong to the preference and KTO layouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from teachkit.formats.base import RowFormat, new_record, parse_messages
from teachkit.records import Message, Record

__all__ = ["PROMPT", "PromptFormat"]

_ANSWER_KEYS = ("chosen", "rejected", "completion", "label", "messages")


class PromptFormat(RowFormat):
    name = "prompt"
    summary = "prompts without answers (TRL prompt-only rows), read by prompt-file recipes"
    layout = '{"prompt": "..." or [...]}'
    detect_order = 90

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        prompt = row.get("prompt")
        if isinstance(prompt, str):
            messages: list[Message] = [{"role": "user", "content": prompt}]
        else:
            messages = parse_messages(prompt, "prompt")
        meta = dict(row["meta"]) if isinstance(row.get("meta"), Mapping) else {}
        meta.update({k: v for k, v in row.items() if k not in ("prompt", "meta")})
        return [new_record(messages, meta=meta)]

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "prompt" in row and not any(key in row for key in _ANSWER_KEYS)


PROMPT = PromptFormat()
