"""Read users' own data files (real examples for validation and mixing) as Records.

One reader takes every supported shape and tells them apart row by row:

* chat rows ``{"messages": [...]}`` and stored Records (``id``/``meta``/``chosen``... kept);
* preference rows ``{"prompt", "chosen", "rejected"}`` (TRL, conversational or plain text);
* ShareGPT ``{"conversations": [{"from", "value"}]}``;
* Self-Instruct tasks ``{"instruction", "instances": [{"input", "output"}]}`` (one record each);
* Alpaca ``{"instruction", "input", "output"}``.

Files are JSON Lines (blank lines are skipped) or, when the name ends in ``.json`` and the file
starts with ``[``, one JSON array. A row that cannot be read raises :class:`DataError` naming the
file, the line (or array item) and the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import DataError
from teachkit.formats.rows import (
    RowError,
    record_from_alpaca,
    record_from_chat,
    record_from_preference,
    record_from_self_instruct,
    record_from_sharegpt,
)
from teachkit.records import Record

__all__ = ["SHAPES", "read_records", "records_from_row", "row_shape"]

_SHAPES: dict[str, Callable[[Mapping[str, Any]], list[Record]]] = {
    "chat": lambda row: [record_from_chat(row)],
    "preference": lambda row: [record_from_preference(row)],
    "sharegpt": lambda row: [record_from_sharegpt(row)],
    "self_instruct": record_from_self_instruct,
    "alpaca": lambda row: [record_from_alpaca(row)],
}

#: the row shapes :func:`read_records` understands
SHAPES: tuple[str, ...] = tuple(_SHAPES)

_EXPECTED = (
    "expected a chat row {'messages': [...]}, a preference row {'prompt', 'chosen', 'rejected'}, "
    "a ShareGPT row {'conversations': [...]}, a Self-Instruct task {'instruction', 'instances'} "
    "or an Alpaca row {'instruction', 'input', 'output'}"
)


def row_shape(row: Mapping[str, Any]) -> str | None:
    """Which of :data:`SHAPES` ``row`` looks like, or None."""
    if "messages" in row:
        return "chat"
    if "conversations" in row:
        return "sharegpt"
    if "prompt" in row and "chosen" in row and "rejected" in row:
        return "preference"
    if "instruction" in row and "instances" in row:
        return "self_instruct"
    if "instruction" in row and "output" in row:
        return "alpaca"
    return None


def records_from_row(row: Any) -> list[Record]:
    """Records for one row of any supported shape; :class:`RowError` when it is none of them."""
    if not isinstance(row, Mapping):
        raise RowError(f"a row must be a JSON object, got {type(row).__name__}")
    shape = row_shape(row)
    if shape is None:
        keys = ", ".join(sorted(str(k) for k in row)) or "none"
        raise RowError(f"unknown row shape (keys: {keys}); {_EXPECTED}")
    return _SHAPES[shape](row)


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed row) pairs; ``where`` is 'line N' or 'item N' (1-based)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}. Check the path.") from exc
    if path.suffix == ".json" and data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON ({exc}). Fix the file.") from exc
        for number, item in enumerate(items, start=1):
            yield f"item {number}", item
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"{path}, line {number}: not valid JSON ({exc}). "
                "Each line must hold one JSON object; fix or remove that line."
            ) from exc


def read_records(path: str | Path, *, source: str = "real") -> Iterator[Record]:
    """Every record in ``path``, in file order.

    Each record's ``meta`` gets ``source`` (unless the row already states one) and ``origin``
    (``{"path": str, "line": "line N"}``) so the export can trace a row back to its file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist. Check the path.")
    for where, row in _json_rows(path):
        try:
            records = records_from_row(row)
        except RowError as exc:
            raise DataError(f"{path}, {where}: {exc}. Fix or remove that row.") from exc
        for record in records:
            record.meta.setdefault("source", source)
            record.meta.setdefault("origin", {"path": str(path), "line": where})
            yield record
