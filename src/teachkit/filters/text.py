"""What text a filter looks at, and the normalisation that dedup and rules share.

A filter reads one *field* of a record:

- ``user``: the user turns, joined by newlines;
- ``assistant``: the last assistant turn (or the chosen answer of a preference pair);
- ``system``: the system turn;
- ``text``: every turn (and both answers of a preference pair), joined by newlines;
- ``meta.<key>``: a value from ``record.meta`` (dots reach into nested mappings).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

import orjson
from pydantic import StringConstraints

from teachkit.records import Record

__all__ = ["FIELD_PATTERN", "FieldRef", "field_label", "field_text", "normalize", "word_count"]

#: what a ``field`` option may name
FIELD_PATTERN = r"^(user|assistant|system|text|meta\.[\w\-]+(\.[\w\-]+)*)$"

#: a validated field reference for filter specs
FieldRef = Annotated[str, StringConstraints(pattern=FIELD_PATTERN)]

#: typographic quotes and dashes mapped to their plain forms
_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"})


def field_text(record: Record, field: str) -> str:
    """The text of ``field`` in ``record`` ('' when it is absent)."""
    if field == "user":
        return "\n".join(m["content"] for m in record.messages if m["role"] == "user")
    if field == "assistant":
        return record.assistant
    if field == "system":
        return record.system
    if field == "text":
        return record.text()
    if field.startswith("meta."):
        return _as_text(_meta_value(record.meta, field[5:]))
    raise ValueError(f"unknown field {field!r}")


def field_label(field: str) -> str:
    """A short name for ``field`` used in drop reasons (``meta.label`` -> ``label``)."""
    return field.rsplit(".", 1)[-1]


def normalize(text: str) -> str:
    """Unicode NFKC, case folded, plain quotes, whitespace runs collapsed to one space, trimmed.

    Two texts that differ only in case, spacing or typographic quotes normalise to the same
    string, which is what exact dedup hashes and near-duplicate dedup shingles.
    """
    if text.isascii():
        return " ".join(text.lower().split())
    text = unicodedata.normalize("NFKC", text).translate(_PLAIN).casefold()
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())


def _meta_value(meta: dict[str, Any], path: str) -> Any:
    value: Any = meta
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
