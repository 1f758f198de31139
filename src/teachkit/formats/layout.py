"""The files of an export and how they are written: rows per file format, metadata, skipped
and decontaminated records, export.json with the hash of every file.

======================  ==================================================================
file format             row files
======================  ==================================================================
``jsonl``               ``train.jsonl``, ``validation.jsonl``
``parquet``             ``train.parquet``, ``validation.parquet``
``hf``                  ``data/train-00000-of-00001.parquet`` (and validation, when it has
                        rows) and a ``README.md`` whose front matter names the splits
======================  ==================================================================

Beside them: ``metadata.jsonl``, ``skipped.jsonl``, ``decontaminated.jsonl`` (with a validation
file) and ``export.json`` (written last; it lists the files and their hashes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from teachkit.errors import ExportError
from teachkit.formats.base import Row, RowFormat
from teachkit.formats.outdir import EXPORT_JSON, OutputDir, disk_fault, hashes_of
from teachkit.formats.split import group_of
from teachkit.formats.writers import (
    HF_DATA_DIR,
    hf_file_name,
    write_hf_card,
    write_json,
    write_jsonl,
    write_parquet,
)
from teachkit.recipe.export import ExportSpec
from teachkit.records import Record

if TYPE_CHECKING:
    from teachkit.formats.export import ExportSummary

__all__ = ["SPLITS", "candidate_names", "write_files"]

SPLITS = ("train", "validation")
_SIDE_FILES = ("metadata.jsonl", "skipped.jsonl")
_DECONTAMINATED = "decontaminated.jsonl"


def _row_files(file_format: str, splits: Sequence[str]) -> list[str]:
    if file_format == "jsonl":
        return [f"{split}.jsonl" for split in splits]
    if file_format == "parquet":
        return [f"{split}.parquet" for split in splits]
    return [*(f"{HF_DATA_DIR}/{hf_file_name(split)}" for split in splits), "README.md"]


def candidate_names(spec: ExportSpec) -> list[str]:
    """Every file an export with ``spec`` may write (checked before any work is done)."""
    names = [*_row_files(spec.file_format, SPLITS), *_SIDE_FILES]
    if spec.validation is not None:
        names.append(_DECONTAMINATED)
    return [*names, EXPORT_JSON]


def _metadata(splits: dict[str, list[Record]]) -> list[Row]:
    lines: list[Row] = []
    for split, records in splits.items():
        for index, record in enumerate(records):
            line: Row = {
                "split": split,
                "index": index,
                "id": record.id,
                "source": str(record.meta.get("source", "synthetic")),
                "group": group_of(record),
            }
            if "origin" in record.meta:
                line["origin"] = record.meta["origin"]
            lines.append(line)
    return lines


def _write_rows(
    root: Path, summary: ExportSummary, fmt: RowFormat, rows: dict[str, list[Row]]
) -> list[str]:
    """Write the row files of ``summary.file_format`` under ``root``; returns their names."""
    if summary.file_format == "jsonl":
        for split, split_rows in rows.items():
            write_jsonl(root / f"{split}.jsonl", split_rows)
        return _row_files("jsonl", list(rows))
    if summary.file_format == "parquet":
        write_parquet(fmt, {root / f"{split}.parquet": r for split, r in rows.items()})
        return _row_files("parquet", list(rows))
    present = {split: r for split, r in rows.items() if r}  # an empty split is left out
    (root / HF_DATA_DIR).mkdir(exist_ok=True)
    names = {split: f"{HF_DATA_DIR}/{hf_file_name(split)}" for split in present}
    write_parquet(fmt, {root / names[split]: r for split, r in present.items()})
    write_hf_card(
        root, {s: len(r) for s, r in present.items()}, row_format=fmt.name, seed=summary.seed
    )
    return _row_files("hf", list(present))


def write_files(
    out: OutputDir,
    summary: ExportSummary,
    fmt: RowFormat,
    rows: dict[str, list[Row]],
    splits: dict[str, list[Record]],
    skipped: list[Row],
    dropped: list[Row] | None,
) -> None:
    """Stage every file of the export, then move them into ``out`` (see :class:`OutputDir`)."""
    staged = out.stage()
    try:
        try:
            files = _write_rows(staged, summary, fmt, rows)
        except (ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid / ArrowTypeError
            raise ExportError(
                f"The {fmt.name} rows do not fit the format's Parquet columns ({exc}). Fix the "
                "format's columns, or export with file_format jsonl.",
                format=fmt.name,
            ) from exc
        write_jsonl(staged / "metadata.jsonl", _metadata(splits))
        write_jsonl(staged / "skipped.jsonl", skipped)
        files += list(_SIDE_FILES)
        if dropped is not None:
            write_jsonl(staged / _DECONTAMINATED, dropped)
            files.append(_DECONTAMINATED)
        summary.files = [*files, EXPORT_JSON]
        summary.hashes = dict(hashes_of(staged, files))
        write_json(staged / EXPORT_JSON, summary.to_dict())
    except OSError as exc:
        out.discard(staged)
        raise disk_fault("Writing the export beside", out.path, exc) from exc
    except BaseException:
        out.discard(staged)
        raise
    out.commit(staged, summary.files)
