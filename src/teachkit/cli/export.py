"""``teachkit export``: write train/validation files from a run directory."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from teachkit.formats.export import ExportSummary, export

__all__ = ["register"]


class _Format(StrEnum):
    chat = "chat"
    preference = "preference"
    alpaca = "alpaca"
    sharegpt = "sharegpt"
    parquet = "parquet"
    hf = "hf"


class _FileFormat(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"
    hf = "hf"


def _table(summary: ExportSummary) -> Table:
    table = Table(title=f"export -> {summary.out}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("format", f"{summary.format} ({summary.file_format})")
    table.add_row("train rows", str(summary.train))
    table.add_row("validation rows", str(summary.validation))
    table.add_row("validation fraction", f"{summary.validation_fraction:.3f}")
    table.add_row("validation from", summary.validation_file or f"split, seed {summary.seed}")
    if summary.validation_file:
        dropped = summary.dropped_decontam + summary.dropped_decontam_real
        table.add_row("dropped (decontamination)", str(dropped))
    if summary.mix_real_file:
        table.add_row("real rows mixed in", str(summary.real_mixed))
        table.add_row("real fraction of train", f"{summary.real_fraction_actual:.3f}")
    table.add_row("skipped (invalid)", str(summary.skipped_invalid))
    return table


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to ``app``."""

    @app.command("export")
    def export_command(
        run_dir: Annotated[Path, typer.Argument(help="Run directory written by `teachkit run`.")],
        format: Annotated[
            _Format,
            typer.Option("--format", "-f", help="Row format, or parquet/hf for chat rows."),
        ] = _Format.chat,
        to: Annotated[
            Path | None,
            typer.Option("--to", "-o", help="Output folder [default: RUN_DIR/dataset]."),
        ] = None,
        val_fraction: Annotated[
            float,
            typer.Option(min=0.0, max=0.99, help="Share of records held out for validation."),
        ] = 0.1,
        seed: Annotated[int, typer.Option(help="Seed of the split and the mixing.")] = 0,
        validation: Annotated[
            Path | None,
            typer.Option(help="Real data to use as the validation set (train keeps all records)."),
        ] = None,
        mix_real: Annotated[Path | None, typer.Option(help="Real data to mix into train.")] = None,
        real_fraction: Annotated[
            float,
            typer.Option(min=0.0, max=0.99, help="Share of real rows in train (with --mix-real)."),
        ] = 0.0,
        decontam_threshold: Annotated[
            float,
            typer.Option(min=0.0, max=0.99, help="Drop train rows with ROUGE-L above this."),
        ] = 0.7,
        ngram: Annotated[
            int,
            typer.Option(min=0, help="Words in a shared run that drops a train row (0: off)."),
        ] = 13,
        file_format: Annotated[
            _FileFormat | None,
            typer.Option(help="Put the rows into jsonl, parquet or an hf folder."),
        ] = None,
    ) -> None:
        """Write train and validation files (and metadata.jsonl, export.json) from a run."""
        if mix_real is not None and real_fraction == 0.0:
            raise typer.BadParameter("--mix-real needs --real-fraction above 0.")
        if real_fraction > 0.0 and mix_real is None:
            raise typer.BadParameter("--real-fraction needs --mix-real FILE.")
        if format.value in ("parquet", "hf") and file_format not in (None, format.value):
            raise typer.BadParameter(f"--format {format.value} already sets the file format.")
        summary = export(
            run_dir,
            to if to is not None else run_dir / "dataset",
            format=format.value,
            val_fraction=val_fraction,
            seed=seed,
            validation=validation,
            mix_real=mix_real,
            real_fraction=real_fraction,
            decontam_threshold=decontam_threshold,
            ngram=ngram,
            file_format=None if file_format is None else file_format.value,
        )
        Console().print(_table(summary))
