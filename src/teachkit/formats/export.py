"""Turn a run directory into training files: the library function behind ``teachkit export``.

Steps: read the accepted records, set aside those that cannot be valid rows (``skipped.jsonl``),
split them (grouped, seeded) or, with a real validation file, send all of them to train and drop
those overlapping a validation input (``decontaminated.jsonl``), mix real examples into train,
then write the rows, ``metadata.jsonl`` (one line per row: split, index, id, source, group) and
``export.json`` (the counts). See docs/export.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import DataError, RunDirError
from teachkit.formats.decontam import Decontaminator, user_text
from teachkit.formats.mix import mix_real as mix_records
from teachkit.formats.mix import real_needed
from teachkit.formats.readers import read_records
from teachkit.formats.rows import ROW_FORMATS, RowError, chat_row, to_row, validate_openai_chat
from teachkit.formats.split import group_of, grouped_split, seeded_order, validation_target
from teachkit.formats.writers import (
    HF_DATA_DIR,
    hf_file_name,
    require_pyarrow,
    write_hf_card,
    write_json,
    write_jsonl,
    write_parquet,
)
from teachkit.records import Record

__all__ = ["FILE_FORMATS", "FORMATS", "ExportSummary", "export", "resolve_format"]

log = logging.getLogger("teachkit")

#: what ``format`` accepts: a row format, or a file format holding chat rows
FORMATS: tuple[str, ...] = (*ROW_FORMATS, "parquet", "hf")
#: what ``file_format`` accepts
FILE_FORMATS: tuple[str, ...] = ("jsonl", "parquet", "hf")

Row = dict[str, Any]


@dataclass(slots=True)
class ExportSummary:
    """What an export wrote; saved as ``export.json`` beside the rows."""

    source_run: str
    out: str
    format: str
    file_format: str
    seed: int
    val_fraction: float
    validation_file: str | None
    mix_real_file: str | None
    real_fraction: float
    decontam_threshold: float
    ngram: int
    train: int = 0
    validation: int = 0
    validation_fraction: float = 0.0
    groups: int = 0
    dropped_decontam: int = 0
    dropped_decontam_real: int = 0
    skipped_invalid: int = 0
    real_mixed: int = 0
    real_fraction_actual: float = 0.0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_format(format: str, file_format: str | None = None) -> tuple[str, str]:
    """(row format, file format) for the ``format``/``file_format`` pair the user gave."""
    if format in ("parquet", "hf"):
        if file_format not in (None, format):
            raise ValueError(f"format {format!r} conflicts with file_format {file_format!r}")
        return "chat", format
    if format not in ROW_FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    if file_format is not None and file_format not in FILE_FORMATS:
        raise ValueError(f"unknown file_format {file_format!r}; expected one of {FILE_FORMATS}")
    return format, file_format or "jsonl"


def _source(record: Record) -> str:
    return str(record.meta.get("source", "synthetic"))


class _Rows:
    """Converts records to rows once, keeping invalid ones aside with their reason."""

    def __init__(self, row_format: str) -> None:
        self.row_format = row_format
        self.rows: dict[str, Row] = {}
        self.skipped: list[Row] = []

    def keep_valid(self, records: Sequence[Record], stage: str) -> list[Record]:
        kept: list[Record] = []
        for record in records:
            problems = validate_openai_chat(chat_row(record))
            row: Row | None = None
            if not problems:
                try:
                    row = to_row(record, self.row_format)
                except RowError as exc:
                    problems = [str(exc)]
            if row is None:
                self.skipped.append(self._entry(record, stage, "; ".join(problems)))
                continue
            self.rows[record.id] = row
            kept.append(record)
        return kept

    @staticmethod
    def _entry(record: Record, stage: str, reason: str) -> Row:
        return {
            "stage": stage,
            "id": record.id,
            "source": _source(record),
            "reason": reason,
            "record": record.to_dict(),
        }

    def keep_valid_from(self, path: str | Path, stage: str) -> list[Record]:
        """Valid records of a user's data file; DataError when none of its rows is valid."""
        before = len(self.skipped)
        kept = self.keep_valid(list(read_records(path)), stage)
        if not kept:
            reason = self.skipped[-1]["reason"] if len(self.skipped) > before else "it is empty"
            raise DataError(
                f"No row of {path} can be a {self.row_format} row ({reason}). "
                "Check that the file holds the kind of examples this format needs."
            )
        return kept


def _decontaminate(
    records: Sequence[Record], checker: Decontaminator, references: Sequence[Record]
) -> tuple[list[Record], list[Row]]:
    kept: list[Record] = []
    dropped: list[Row] = []
    for record in records:
        hit = checker.check(user_text(record))
        if hit is None:
            kept.append(record)
            continue
        dropped.append(
            {
                "id": record.id,
                "source": _source(record),
                "test": hit.test,
                "score": round(hit.score, 6),
                "validation_id": references[hit.reference].id,
                "reason": hit.reason(),
                "record": record.to_dict(),
            }
        )
    return kept, dropped


def _metadata(splits: dict[str, list[Record]]) -> list[Row]:
    lines: list[Row] = []
    for split, records in splits.items():
        for index, record in enumerate(records):
            line: Row = {
                "split": split,
                "index": index,
                "id": record.id,
                "source": _source(record),
                "group": group_of(record),
            }
            if "origin" in record.meta:
                line["origin"] = record.meta["origin"]
            lines.append(line)
    return lines


def _remove_previous(out: Path) -> None:
    """Delete the files a previous export listed in its export.json (and nothing else)."""
    previous = out / "export.json"
    if not previous.is_file():
        return
    try:
        files = orjson.loads(previous.read_bytes()).get("files", [])
    except (orjson.JSONDecodeError, AttributeError):
        return
    root = out.resolve()
    for name in files:
        path = (out / str(name)).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()


def _write_rows(out: Path, summary: ExportSummary, rows: dict[str, list[Row]]) -> list[str]:
    """Write the row files of ``summary.file_format``; returns their names relative to ``out``."""
    if summary.file_format == "jsonl":
        for split, split_rows in rows.items():
            write_jsonl(out / f"{split}.jsonl", split_rows)
        return [f"{split}.jsonl" for split in rows]
    if summary.file_format == "parquet":
        write_parquet(summary.format, {out / f"{split}.parquet": r for split, r in rows.items()})
        return [f"{split}.parquet" for split in rows]
    present = {split: r for split, r in rows.items() if r}
    (out / HF_DATA_DIR).mkdir(exist_ok=True)
    names = {split: f"{HF_DATA_DIR}/{hf_file_name(split)}" for split in present}
    write_parquet(summary.format, {out / names[split]: r for split, r in present.items()})
    counts = {split: len(r) for split, r in present.items()}
    write_hf_card(out, counts, row_format=summary.format, seed=summary.seed)
    return [*names.values(), "README.md"]


def _write(
    out: Path,
    summary: ExportSummary,
    rows: _Rows,
    splits: dict[str, list[Record]],
    dropped: list[Row] | None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out)
    split_rows = {split: [rows.rows[r.id] for r in recs] for split, recs in splits.items()}
    files = _write_rows(out, summary, split_rows)
    write_jsonl(out / "metadata.jsonl", _metadata(splits))
    write_jsonl(out / "skipped.jsonl", rows.skipped)
    files += ["metadata.jsonl", "skipped.jsonl"]
    if dropped is not None:
        write_jsonl(out / "decontaminated.jsonl", dropped)
        files.append("decontaminated.jsonl")
    summary.files = [*files, "export.json"]
    write_json(out / "export.json", summary.to_dict())


def export(
    run_dir: str | Path,
    to: str | Path,
    *,
    format: str = "chat",
    val_fraction: float = 0.1,
    seed: int = 0,
    validation: str | Path | None = None,
    mix_real: str | Path | None = None,
    real_fraction: float = 0.0,
    decontam_threshold: float = 0.7,
    ngram: int = 13,
    file_format: str | None = None,
) -> ExportSummary:
    """Write ``to/train.*`` and ``to/validation.*`` from the accepted records of ``run_dir``.

    ``format`` is a row format (``chat``, ``preference``, ``alpaca``, ``sharegpt``) or ``parquet``
    / ``hf`` (chat rows in Parquet files / in a ``datasets`` folder); ``file_format`` (``jsonl``,
    ``parquet``, ``hf``) puts any row format into another file format. With ``validation``, that
    real file is the validation set, every run record goes to train and training records whose
    user turn overlaps a validation input are dropped (ROUGE-L above ``decontam_threshold`` or a
    shared ``ngram``-word run; ``ngram=0`` turns the n-gram test off). ``mix_real`` adds real
    examples to train so that they make ``real_fraction`` of it.
    """
    row_format, file_format = resolve_format(format, file_format)
    validation_target(2, val_fraction)
    real_needed(0, real_fraction)
    if real_fraction > 0 and mix_real is None:
        raise ValueError("real_fraction needs mix_real, the file of real examples to mix in")
    if file_format != "jsonl":
        require_pyarrow()  # before anything is read or the previous export is replaced
    run_dir, out = Path(run_dir), Path(to)
    if not (run_dir / "accepted").is_dir():
        raise RunDirError(
            f"{run_dir} is not a run directory (it has no accepted/ folder). "
            "Pass the directory that `teachkit run` wrote."
        )
    if out.resolve() in {(run_dir / part).resolve() for part in ("accepted", "rejected")}:
        raise RunDirError(
            f"Cannot export into {out}: it holds the run's records. Pick another --to."
        )
    summary = ExportSummary(
        source_run=str(run_dir),
        out=str(out),
        format=row_format,
        file_format=file_format,
        seed=seed,
        val_fraction=val_fraction,
        validation_file=None if validation is None else str(validation),
        mix_real_file=None if mix_real is None else str(mix_real),
        real_fraction=real_fraction,
        decontam_threshold=decontam_threshold,
        ngram=ngram,
    )
    # imported here: the engine is a heavier part that may itself use the formats
    from teachkit.rundir.store import read_accepted

    records = list(read_accepted(run_dir))
    if not records:
        raise RunDirError(f"{run_dir} has no accepted records yet. Run the recipe first.")
    rows = _Rows(row_format)
    pool = rows.keep_valid(records, "run")
    if not pool:
        raise RunDirError(
            f"None of the {len(records)} accepted records of {run_dir} can be a {row_format} row "
            f"(for example: {rows.skipped[-1]['reason']}). "
            "Pick a format that fits the recipe's records."
        )
    checker: Decontaminator | None = None
    references: list[Record] = []
    dropped: list[Row] | None = None
    if validation is not None:
        references = rows.keep_valid_from(validation, "validation")
        checker = Decontaminator(
            [user_text(r) for r in references], threshold=decontam_threshold, ngram=ngram
        )
        train, dropped = _decontaminate(pool, checker, references)
        summary.dropped_decontam = len(dropped)
        train, held_out = seeded_order(train, seed), seeded_order(references, seed)
    else:
        split = grouped_split(pool, val_fraction, seed)
        train, held_out = split.train, split.validation
    summary.groups = len({group_of(r) for r in [*train, *held_out]})
    if mix_real is not None:
        real = rows.keep_valid_from(mix_real, "mix_real")
        if checker is not None and dropped is not None:
            real, dropped_real = _decontaminate(real, checker, references)
            summary.dropped_decontam_real = len(dropped_real)
            dropped += dropped_real
        mixed = mix_records(train, real, real_fraction, seed)
        train = mixed.train
        summary.real_mixed = mixed.real_used
        summary.real_fraction_actual = round(mixed.real_fraction, 6)
    if not train:
        log.warning("the export has no training rows (see the decontamination counts)")
    summary.train, summary.validation = len(train), len(held_out)
    total = summary.train + summary.validation
    summary.validation_fraction = round(summary.validation / total, 6) if total else 0.0
    summary.skipped_invalid = len(rows.skipped)
    _write(out, summary, rows, {"train": train, "validation": held_out}, dropped)
    log.info(
        "exported %d train and %d validation rows to %s (%d skipped, %d decontaminated)",
        summary.train,
        summary.validation,
        out,
        summary.skipped_invalid,
        summary.dropped_decontam + summary.dropped_decontam_real,
    )
    return summary
