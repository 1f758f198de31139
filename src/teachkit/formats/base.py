"""The row-format contract: one object per row layout that a trainer reads.

A row format is a :class:`RowFormat` instance registered in the ``teachkit.formats`` entry-point
group (the built-ins are declared in teachkit's own ``pyproject.toml`` exactly like a plugin's).
It has

* a ``name`` (what ``--format`` and a recipe's ``export.format`` say), a one-line ``summary`` and a
  ``layout`` (the row's keys, shown in ``--help`` and in error messages);
* :meth:`RowFormat.to_row` (record -> row) for the export, and :meth:`RowFormat.to_records`
  (row -> records) for reading users' data files; a format may do only one of the two (the
  Self-Instruct task layout is read, never written);
* :meth:`RowFormat.detect` (does a row look like this layout?), asked in ``detect_order`` (lower
  first) when a data file is read;
* ``columns``: the Arrow columns of its Parquet files, so train and validation files share one
  schema (even an empty file).

A conversion that cannot be made raises :class:`RowError`; the export writes such records to
``skipped.jsonl`` with the message as the reason, and the reader names the file and line.
The helpers below (:func:`conversation`, :func:`parse_messages`, :func:`text_field`, ...) are the
conversions the built-in formats share; plugins may use them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from teachkit.records import Message, Record

__all__ = [
    "MESSAGES",
    "ROLES",
    "Column",
    "ColumnType",
    "Row",
    "RowError",
    "RowFormat",
    "arrow_type",
    "conversation",
    "instruction_text",
    "new_record",
    "parse_messages",
    "plain_messages",
    "text_field",
]

Row = dict[str, Any]
ROLES = ("system", "user", "assistant")

#: an Arrow column type, written without importing pyarrow: ``"string"``, ``"int64"``,
#: ``"float64"``, ``"bool"``; ``[T]`` is a list of T; ``{"key": T, ...}`` is a struct
ColumnType = str | list["ColumnType"] | dict[str, "ColumnType"]

#: the column type of a list of chat messages
MESSAGES: ColumnType = [{"role": "string", "content": "string"}]

_PRIMITIVES = ("string", "int64", "float64", "bool")


class RowError(ValueError):
    """A record cannot be turned into a row of the asked format (or a row into a record)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a format's Parquet files. An ``optional`` column is written only when some
    row of the export has it (e.g. alpaca's ``system`` and ``history``)."""

    name: str
    type: ColumnType
    optional: bool = False


def arrow_type(spec: ColumnType, pa: Any) -> Any:
    """The pyarrow type of ``spec`` (``pa`` is the imported ``pyarrow`` module)."""
    if isinstance(spec, str):
        if spec not in _PRIMITIVES:
            raise ValueError(f"unknown column type {spec!r}; expected one of {_PRIMITIVES}")
        return {"string": pa.string, "int64": pa.int64, "float64": pa.float64, "bool": pa.bool_}[
            spec
        ]()
    if isinstance(spec, list):
        if len(spec) != 1:
            raise ValueError(f"a list column type holds exactly one item type, got {spec!r}")
        return pa.list_(arrow_type(spec[0], pa))
    return pa.struct([(key, arrow_type(value, pa)) for key, value in spec.items()])


class RowFormat:
    """Base class of row formats. Subclasses set ``name``, ``summary`` and ``layout``, and
    override :meth:`to_row` (to be written), :meth:`to_records` and :meth:`detect` (to be read),
    or both. Register an *instance* in the ``teachkit.formats`` entry-point group."""

    #: what ``--format`` and ``export.format`` say; letters, digits and ``_``
    name: ClassVar[str]
    #: one line for ``--help`` and the docs
    summary: ClassVar[str] = ""
    #: the row's keys, e.g. ``{"messages": [...]}``
    layout: ClassVar[str] = ""
    #: when a data file is read, formats are asked whether a row is theirs in this order
    detect_order: ClassVar[int] = 100
    #: the Parquet columns, in order
    columns: ClassVar[tuple[Column, ...]] = ()

    def to_row(self, record: Record) -> Row:
        """The record as a row of this format; :class:`RowError` when it cannot be one."""
        raise RowError(f"the {self.name} format can be read but not written")

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        """The records one row of this format holds; :class:`RowError` when it is malformed."""
        raise RowError(f"the {self.name} format can be written but not read")

    def detect(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` looks like this format (its keys; the values are checked later)."""
        return False

    @property
    def writes(self) -> bool:
        """Whether the export can write this format."""
        return type(self).to_row is not RowFormat.to_row

    @property
    def reads(self) -> bool:
        """Whether data files in this format can be read."""
        return type(self).to_records is not RowFormat.to_records

    def __repr__(self) -> str:
        return f"<row format {getattr(self, 'name', '?')}>"


# --- conversions the formats share ----------------------------------------------------------
def plain_messages(messages: list[Message]) -> list[dict[str, str]]:
    """Copies of ``messages`` holding only ``role`` and ``content``."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def conversation(record: Record) -> list[dict[str, str]]:
    """The record's turns; a preference record without an answer turn gets its chosen answer."""
    messages = plain_messages(record.messages)
    if record.chosen is not None and (not messages or messages[-1]["role"] != "assistant"):
        messages.append({"role": "assistant", "content": record.chosen})
    return messages


def text_field(row: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    """The string at ``row[key]`` ('' when absent and not required)."""
    value = row.get(key, None if required else "")
    if value is None:
        value = ""
        if required:
            raise RowError(f"field '{key}' is missing")
    if not isinstance(value, str):
        raise RowError(f"field '{key}' must be a string, got {type(value).__name__}")
    return value


def instruction_text(instruction: str, extra_input: str) -> str:
    """The user turn of an instruction-style row: the instruction, then the input if any."""
    return f"{instruction}\n\n{extra_input}" if extra_input.strip() else instruction


def parse_messages(value: Any, key: str) -> list[Message]:
    """A list of ``{"role", "content"}`` objects read from a row's field ``key``."""
    if not isinstance(value, list):
        raise RowError(f"field '{key}' must be a list of messages")
    out: list[Message] = []
    for position, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise RowError(f"{key}[{position}] is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RowError(f"{key}[{position}] has role {role!r}, expected one of {ROLES}")
        if not isinstance(content, str):
            raise RowError(f"{key}[{position}] content must be a string")
        out.append({"role": role, "content": content})
    return out


def new_record(messages: list[Message], meta: dict[str, Any] | None = None, **extra: Any) -> Record:
    """A Record, with construction problems reported as :class:`RowError`."""
    try:
        return Record(messages=messages, meta=meta or {}, **extra)
    except ValueError as exc:
        raise RowError(str(exc)) from exc
