"""``preference_text``: ``{"prompt": "...", "chosen": "...", "rejected": "..."}``.

TRL's *standard* (plain text) preference format, for models trained without a chat template:
TRL tokenizes ``prompt + chosen`` and ``prompt + rejected`` as they are, so the prompt is the
user turn followed by a blank line. A prompt with a system turn or several turns has no plain-text
form here (use ``preference``, the conversational layout). Scored pairs carry ``score_chosen``,
``score_rejected``, ``margin`` and ``prompt_id``.
"""

from __future__ import annotations

from typing import ClassVar

from teachkit.formats.base import Column, Row, RowError
from teachkit.formats.pair_rows import PairFormat, pair_facts
from teachkit.formats.preference import SCORE_COLUMNS, pair_answers
from teachkit.records import Record

__all__ = ["PREFERENCE_TEXT", "PreferenceTextFormat"]

#: what separates the prompt from the answer in ``prompt + chosen``
SEPARATOR = "\n\n"


class PreferenceTextFormat(PairFormat):
    name = "preference_text"
    summary = "TRL standard (plain text) preference rows: prompt, chosen, rejected strings"
    layout = '{"prompt": "...", "chosen": "...", "rejected": "..."}'
    columns: ClassVar[tuple[Column, ...]] = (
        Column("prompt", "string"),
        Column("chosen", "string"),
        Column("rejected", "string"),
        *SCORE_COLUMNS,
    )

    def to_row(self, record: Record) -> Row:
        prompt, chosen, rejected = pair_answers(record)
        if len(prompt) != 1:
            roles = ", ".join(m["role"] for m in prompt)
            raise RowError(
                f"the prompt has several turns ({roles}); the plain-text layout holds one user "
                "turn, so export the conversational 'preference' format"
            )
        return {
            "prompt": prompt[0]["content"] + SEPARATOR,
            "chosen": chosen,
            "rejected": rejected,
            **pair_facts(record),
        }


PREFERENCE_TEXT = PreferenceTextFormat()
