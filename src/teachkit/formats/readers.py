"""Read users' own data files (real examples for validation, mixing and curation) as Records.

One reader takes every registered readable format and tells them apart row by row, asking each
format's :meth:`~teachkit.formats.base.RowFormat.detect` in its ``detect_order``. The built-ins:

* chat rows ``{"messages": [...]}`` and stored Records (``id``/``meta``/``chosen``... kept);
* ShareGPT ``{"conversations": [{"from", "value"}]}``;
* preference rows ``{"prompt", "chosen", "rejected"}`` (TRL, conversational or plain text);
* Self-Instruct tasks ``{"instruction", "instances": [{"input", "output"}]}`` (one record each);
* Alpaca ``{"instruction", "input", "output"}``.

Files are UTF-8 JSON Lines (a leading byte-order mark is allowed, blank lines are skipped) or,
when the name ends in ``.json`` and the file starts with ``[``, one JSON array. A row that cannot
be read raises :class:`DataError` naming the file, the line (or array item) and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import DataError
from teachkit.formats.base import RowError, RowFormat
from teachkit.formats.rows import detect, readable_formats
from teachkit.records import Record

__all__ = ["read_records", "records_from_row", "row_shape"]

_BOM = b"\xef\xbb\xbf"


def _expected(order: list[RowFormat]) -> str:
    shapes = ", ".join(f"{fmt.name} {fmt.layout}" for fmt in order)
    return f"expected a row of one of the formats: {shapes}"


def row_shape(row: Mapping[str, Any]) -> str | None:
    """The name of the readable format ``row`` looks like, or None."""
    fmt = detect(row)
    return None if fmt is None else fmt.name


def records_from_row(row: Any, order: list[RowFormat] | None = None) -> list[Record]:
    """Records for one row of any readable format; :class:`RowError` when it is none of them."""
    if not isinstance(row, Mapping):
        raise RowError(f"a row must be a JSON object, got {type(row).__name__}")
    order = readable_formats() if order is None else order
    fmt = detect(row, order)
    if fmt is None:
        keys = ", ".join(sorted(str(k) for k in row)) or "none"
        raise RowError(f"unknown row shape (keys: {keys}); {_expected(order)}")
    return fmt.to_records(row)


def check_data_file(path: Path, what: str = "Data file") -> None:
    """:class:`DataError` unless ``path`` is a file that exists (a folder is named as one)."""
    if path.is_dir():
        raise DataError(
            f"{what} {path} is a directory, not a file. Pass a JSON Lines file inside it "
            "(a run's records are in accepted/*.jsonl).",
            path=str(path),
        )
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist. Check the path.", path=str(path))


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed row) pairs; ``where`` is 'line N' or 'item N' (1-based)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"Cannot read {path}: {exc.strerror or exc}. Check the path and its permissions.",
            path=str(path),
        ) from exc
    data = data.removeprefix(_BOM)
    if path.suffix == ".json" and data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"{path} is not valid JSON ({exc}). Fix the file.", path=str(path)
            ) from exc
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
                "Each line must hold one JSON object; fix or remove that line.",
                path=str(path),
                line=number,
            ) from exc


def read_records(path: str | Path, *, source: str = "real") -> Iterator[Record]:
    """Every record in ``path``, in file order.

    Each record's ``meta`` gets ``source`` (unless the row already states one) and ``origin``
    (``{"path": str, "line": "line N"}``) so the export can trace a row back to its file.
    """
    path = Path(path)
    check_data_file(path)
    order = readable_formats()
    for where, row in _json_rows(path):
        try:
            records = records_from_row(row, order)
        except RowError as exc:
            raise DataError(
                f"{path}, {where}: {exc}. Fix or remove that row.", path=str(path), line=where
            ) from exc
        for record in records:
            record.meta.setdefault("source", source)
            record.meta.setdefault("origin", {"path": str(path), "line": where})
            yield record
