"""``preference_implicit``: ``{"chosen": [...], "rejected": [...]}``, the prompt inside both.

TRL's *implicit prompt* conversational preference format: ``chosen`` and ``rejected`` are whole
conversations (the prompt turns, then the answer) and TRL recovers the prompt as their common
beginning (``trl.data_utils.extract_prompt``). Both sides hold the same prompt turns, byte for
byte. Scored pairs carry ``score_chosen``, ``score_rejected``, ``margin`` and ``prompt_id``.
"""

from __future__ import annotations

from typing import ClassVar

from teachkit.formats.base import MESSAGES, Column, Row
from teachkit.formats.pair_rows import PairFormat, pair_facts
from teachkit.formats.preference import SCORE_COLUMNS, pair_answers
from teachkit.records import Record

__all__ = ["PREFERENCE_IMPLICIT", "PreferenceImplicitFormat"]


class PreferenceImplicitFormat(PairFormat):
    name = "preference_implicit"
    summary = "TRL implicit-prompt preference rows: chosen and rejected whole conversations"
    layout = '{"chosen": [...prompt, answer], "rejected": [...prompt, answer]}'
    columns: ClassVar[tuple[Column, ...]] = (
        Column("chosen", MESSAGES),
        Column("rejected", MESSAGES),
        *SCORE_COLUMNS,
    )

    def to_row(self, record: Record) -> Row:
        prompt, chosen, rejected = pair_answers(record)
        return {
            "chosen": [*prompt, {"role": "assistant", "content": chosen}],
            "rejected": [*[dict(m) for m in prompt], {"role": "assistant", "content": rejected}],
            **pair_facts(record),
        }


PREFERENCE_IMPLICIT = PreferenceImplicitFormat()
