"""Turn records into training files, as an :class:`~teachkit.recipe.export.ExportSpec` says.

Steps: set aside the records that cannot be valid rows (``skipped.jsonl``); split the rest
(grouped, seeded) or, with a real validation file, send all of them to train and drop those
overlapping a validation input (``decontaminated.jsonl``); mix real examples into train; then
write the rows, ``metadata.jsonl`` (one line per row: split, index, id, source, group) and
``export.json`` (settings, counts, the state of the run the records came from, and the hash of
every file written). Files are staged and moved into place by :class:`OutputDir`, so a failed
export changes nothing and only files an export wrote are ever replaced. See docs/export.md.

Reading a run directory is the engine's part (:func:`teachkit.engine.export.export`); this layer
takes any iterable of records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from teachkit.errors import DataError, ExportError
from teachkit.formats.base import Row, RowError, RowFormat
from teachkit.formats.chat import CHAT, validate_openai_chat
from teachkit.formats.decontam import Decontaminator, user_text
from teachkit.formats.layout import candidate_names, write_files
from teachkit.formats.mix import mix_real
from teachkit.formats.outdir import OutputDir
from teachkit.formats.readers import check_data_file, read_records
from teachkit.formats.rows import row_format, writable_formats
from teachkit.formats.split import group_of, grouped_split, seeded_order
from teachkit.formats.writers import require_pyarrow
from teachkit.recipe.export import ExportSpec
from teachkit.records import Record

__all__ = ["ExportSummary", "export_records", "row_problems", "writable_format"]

log = logging.getLogger("teachkit")


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
    #: the state of the run the records came from (complete, incomplete, running, killed)
    run_state: dict[str, Any] | None = None
    #: ``sha256:<hex>`` of every file written but export.json: what the next export may replace
    hashes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """One sentence saying what was written where."""
        return (
            f"Training files: {self.train} train and {self.validation} validation {self.format} "
            f"rows ({self.file_format}) in {self.out}."
        )


def writable_format(name: str) -> RowFormat:
    """The registered format ``name``, which must be writable (:class:`ExportError` if not)."""
    fmt = row_format(name)
    if not fmt.writes:
        raise ExportError(
            f"The {name} format can be read but not written. Export one of: "
            f"{', '.join(writable_formats())}.",
            format=name,
        )
    return fmt


def row_problems(fmt: RowFormat, record: Record) -> tuple[Row | None, list[str]]:
    """(the row, []) when ``record`` makes a valid row of ``fmt``, else (None, the problems).

    Every row, whatever the format, first needs a valid chat form (:func:`validate_openai_chat`).
    """
    problems = validate_openai_chat(CHAT.to_row(record))
    if problems:
        return None, problems
    try:
        return fmt.to_row(record), []
    except RowError as exc:
        return None, [str(exc)]


def _source(record: Record) -> str:
    return str(record.meta.get("source", "synthetic"))


class _Rows:
    """Converts records to rows once, keeping invalid ones aside with their reason."""

    def __init__(self, fmt: RowFormat) -> None:
        self.fmt = fmt
        self.rows: dict[str, Row] = {}
        self.skipped: list[Row] = []

    def keep_valid(self, records: Iterable[Record], stage: str) -> list[Record]:
        kept: list[Record] = []
        for record in records:
            row, problems = row_problems(self.fmt, record)
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

    def keep_valid_from(self, path: str, stage: str) -> list[Record]:
        """Valid records of a user's data file; DataError when none of its rows is valid."""
        before = len(self.skipped)
        kept = self.keep_valid(read_records(path), stage)
        if not kept:
            reason = self.skipped[-1]["reason"] if len(self.skipped) > before else "it is empty"
            raise DataError(
                f"No row of {path} can be a {self.fmt.name} row ({reason}). "
                "Check that the file holds the kind of examples this format needs.",
                path=path,
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


def _refuse_own_records(pool: Sequence[Record], references: Sequence[Record], path: str) -> None:
    """The validation file must not be the records being exported."""
    ids = {r.id for r in references}
    shared = sum(1 for r in pool if r.id in ids)
    if shared == len(pool):
        raise ExportError(
            f"--validation {path} holds the very records being exported (all {len(pool)} of "
            "them, same content), so train would be empty and validation would measure nothing "
            "new. Pass a file of held-out real examples, or leave --validation out to split the "
            "records into train and validation.",
            path=path,
        )
    if shared:
        log.warning(
            "%d of the %d records being exported are also in the validation file %s; they are "
            "dropped from train by decontamination",
            shared,
            len(pool),
            path,
        )


def _no_train(spec: ExportSpec, pool: int, dropped: list[Row]) -> ExportError:
    example = f" (for example: {dropped[0]['reason']})" if dropped else ""
    return ExportError(
        f"The export has no training rows: all {pool} records overlap the validation file "
        f"{spec.validation} and were dropped by decontamination{example}. Use a validation file "
        f"of other examples, or loosen the tests: raise --decontam-threshold (now "
        f"{spec.decontam_threshold}) or set --ngram 0 (now {spec.ngram}).",
        path=spec.validation,
    )


def export_records(
    records: Iterable[Record],
    to: str | Path,
    spec: ExportSpec,
    *,
    source_run: str = "",
    run_state: Mapping[str, Any] | None = None,
) -> ExportSummary:
    """Write ``to/train.*`` and ``to/validation.*`` (and the files beside them) from ``records``.

    ``source_run`` and ``run_state`` say where the records came from; both go into export.json.
    Errors: :class:`ExportError` (nothing to write, a file in the way), :class:`DataError` (a
    validation or mix-in file), :class:`PluginError` (an unknown format),
    :class:`~teachkit.errors.EnvironmentFault` (the disk refused); in every case nothing changed
    in ``to``.
    """
    fmt = writable_format(spec.format)
    if spec.file_format != "jsonl":
        require_pyarrow()  # before anything is read or the previous export is replaced
    for path in (spec.validation, spec.mix_real):
        if path is not None:
            check_data_file(Path(path))
    out = OutputDir(to)
    out.check(candidate_names(spec))
    summary = ExportSummary(
        source_run=source_run,
        out=str(to),
        format=fmt.name,
        file_format=spec.file_format,
        seed=spec.seed,
        val_fraction=spec.val_fraction,
        validation_file=spec.validation,
        mix_real_file=spec.mix_real,
        real_fraction=spec.real_fraction,
        decontam_threshold=spec.decontam_threshold,
        ngram=spec.ngram,
        run_state=dict(run_state) if run_state is not None else None,
    )
    rows = _Rows(fmt)
    records = list(records)
    if not records:
        raise ExportError("There are no records to export.")
    pool = rows.keep_valid(records, "run")
    if not pool:
        raise ExportError(
            f"None of the {len(records)} records can be a {fmt.name} row (for example: "
            f"{rows.skipped[-1]['reason']}). Pick a format that fits the records.",
            format=fmt.name,
        )
    checker: Decontaminator | None = None
    references: list[Record] = []
    dropped: list[Row] | None = None
    if spec.validation is not None:
        references = rows.keep_valid_from(spec.validation, "validation")
        _refuse_own_records(pool, references, spec.validation)
        checker = Decontaminator(
            [user_text(r) for r in references], threshold=spec.decontam_threshold, ngram=spec.ngram
        )
        train, dropped = _decontaminate(pool, checker, references)
        if not train:
            raise _no_train(spec, len(pool), dropped)
        summary.dropped_decontam = len(dropped)
        train, held_out = seeded_order(train, spec.seed), seeded_order(references, spec.seed)
    else:
        split = grouped_split(pool, spec.val_fraction, spec.seed)
        train, held_out = split.train, split.validation
    summary.groups = len({group_of(r) for r in [*train, *held_out]})
    if spec.mix_real is not None:
        real = rows.keep_valid_from(spec.mix_real, "mix_real")
        if checker is not None and dropped is not None:
            real, dropped_real = _decontaminate(real, checker, references)
            summary.dropped_decontam_real = len(dropped_real)
            dropped += dropped_real
        mixed = mix_real(train, real, spec.real_fraction, spec.seed)
        train = mixed.train
        summary.real_mixed = mixed.real_used
        summary.real_fraction_actual = round(mixed.real_fraction, 6)
    summary.train, summary.validation = len(train), len(held_out)
    total = summary.train + summary.validation
    summary.validation_fraction = round(summary.validation / total, 6) if total else 0.0
    summary.skipped_invalid = len(rows.skipped)
    splits = {"train": train, "validation": held_out}
    split_rows = {split: [rows.rows[r.id] for r in recs] for split, recs in splits.items()}
    write_files(out, summary, fmt, split_rows, splits, rows.skipped, dropped)
    log.info(
        "exported %d train and %d validation rows to %s (%d skipped, %d decontaminated)",
        summary.train,
        summary.validation,
        to,
        summary.skipped_invalid,
        summary.dropped_decontam + summary.dropped_decontam_real,
    )
    return summary
