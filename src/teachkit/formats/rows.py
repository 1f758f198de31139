"""The registered row formats: found by name, asked in turn whether a row is theirs.

Row formats are :class:`~teachkit.formats.base.RowFormat` instances in the ``teachkit.formats``
entry-point group. teachkit's own (``chat``, ``preference``, ``alpaca``, ``sharegpt`` and the
read-only ``self_instruct``) are declared in its ``pyproject.toml`` exactly like a plugin's, so the
export, the readers, the Parquet schemas and the command line's ``--format`` choices all come from
this registry. :meth:`Registry.register` adds a format in-process (tests, notebooks)::

    from teachkit.formats.rows import FORMATS
    FORMATS.register("prompt_completion", PromptCompletionFormat())

The file formats (``jsonl``, ``parquet``, ``hf``) are a small closed set, not plugins; a row format
cannot take one of their names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from teachkit.errors import PluginError
from teachkit.formats.base import Row, RowError, RowFormat
from teachkit.formats.chat import validate_openai_chat
from teachkit.recipe.export import FILE_FORMATS
from teachkit.records import Record
from teachkit.registry import Registry

__all__ = [
    "FORMATS",
    "RowError",
    "detect",
    "readable_formats",
    "row_format",
    "to_row",
    "validate_openai_chat",
    "writable_formats",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check(obj: object) -> str | None:
    if not isinstance(obj, RowFormat):
        return f"it is {obj!r}, not an instance of teachkit.formats.base.RowFormat"
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        return f"its name {name!r} is not a word of letters, digits and '_'"
    if name in FILE_FORMATS:
        return f"its name {name!r} is a file format ({', '.join(FILE_FORMATS)})"
    if not (obj.reads or obj.writes):
        return "it overrides neither to_row (to be written) nor to_records (to be read)"
    return None


FORMATS: Registry[RowFormat] = Registry("teachkit.formats", "export format", _check)


def row_format(name: str) -> RowFormat:
    """The format registered as ``name``; :class:`PluginError` naming the known ones if none."""
    fmt = FORMATS.get(name)
    if fmt.name != name:
        raise PluginError(
            f"The export format registered as {name!r} says its name is {fmt.name!r}. Make the "
            "entry-point name and the format's name the same.",
            plugin=name,
        )
    return fmt


def writable_formats() -> list[str]:
    """Names of the formats the export can write, sorted."""
    return [name for name, fmt in sorted(FORMATS.load_all().items()) if fmt.writes]


def readable_formats() -> list[RowFormat]:
    """The formats data files can be in, in the order :func:`detect` asks them."""
    readers = [fmt for fmt in FORMATS.load_all().values() if fmt.reads]
    return sorted(readers, key=lambda fmt: (fmt.detect_order, fmt.name))


def detect(row: Mapping[str, Any], order: list[RowFormat] | None = None) -> RowFormat | None:
    """The first format (in ``order``, default :func:`readable_formats`) that claims ``row``."""
    for fmt in readable_formats() if order is None else order:
        if fmt.detect(row):
            return fmt
    return None


def to_row(record: Record, name: str) -> Row:
    """``record`` as a row of the format ``name``; :class:`RowError` when it cannot be one."""
    try:
        fmt = row_format(name)
    except PluginError as exc:
        if exc.context.get("module"):  # it exists but does not load: say why
            raise
        known = ", ".join(writable_formats())
        raise RowError(f"unknown row format {name!r}; expected one of {known}") from None
    return fmt.to_row(record)
