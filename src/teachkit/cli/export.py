"""``teachkit export``: write train/validation files from a run directory."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from teachkit.engine.export import export
from teachkit.errors import PluginError
from teachkit.formats.export import ExportSummary
from teachkit.formats.rows import FORMATS, row_format, writable_formats

__all__ = ["register"]

#: what ``--format`` accepts besides the registered row formats: chat rows in that file format
_SHORTHANDS = ("parquet", "hf")


class _FileFormat(StrEnum):
    jsonl = "jsonl"
    parquet = "parquet"
    hf = "hf"


def _format_names() -> str:
    """The writable registered formats, for ``--help`` and error messages."""
    try:
        return ", ".join(writable_formats())
    except PluginError:  # a broken plugin: list the names; choosing it explains the problem
        return ", ".join(FORMATS.names())


def _check_format(value: str) -> str:
    if value in _SHORTHANDS:
        return value
    try:
        fmt = row_format(value)
    except PluginError as exc:
        if exc.context.get("module"):
            raise typer.BadParameter(str(exc)) from None
        raise typer.BadParameter(
            f"Unknown export format {value!r}. Known formats: {_format_names()}, or parquet/hf "
            "for chat rows in Parquet files / a datasets folder. A plugin format must be "
            "installed (it declares an entry point in the group 'teachkit.formats')."
        ) from None
    if not fmt.writes:
        raise typer.BadParameter(
            f"The {value} format can be read but not written. Export one of: {_format_names()}."
        )
    return value


def _table(summary: ExportSummary) -> Table:
    table = Table(title=f"export -> {summary.out}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    state = summary.run_state or {}
    if state:
        of = state.get("accepted"), state.get("requested")
        table.add_row("run", f"{state.get('state')} ({of[0]} of {of[1] or '?'} records)")
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
            str,
            typer.Option(
                "--format",
                "-f",
                callback=_check_format,
                help=f"Row format: {_format_names()}; or parquet/hf for chat rows in Parquet "
                "files / a datasets folder.",
            ),
        ] = "chat",
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
        require_complete: Annotated[
            bool,
            typer.Option(help="Refuse to export a run that is running, killed or incomplete."),
        ] = False,
    ) -> None:
        """Write train and validation files (and metadata.jsonl, export.json) from a run."""
        if mix_real is not None and real_fraction == 0.0:
            raise typer.BadParameter("--mix-real needs --real-fraction above 0.")
        if real_fraction > 0.0 and mix_real is None:
            raise typer.BadParameter("--real-fraction needs --mix-real FILE.")
        if format in _SHORTHANDS and file_format not in (None, format):
            raise typer.BadParameter(f"--format {format} already sets the file format.")
        options: dict[str, Any] = {}
        if file_format is not None:
            options["file_format"] = file_format.value
        summary = export(
            run_dir,
            to if to is not None else run_dir / "dataset",
            format=format,
            val_fraction=val_fraction,
            seed=seed,
            validation=validation,
            mix_real=mix_real,
            real_fraction=real_fraction,
            decontam_threshold=decontam_threshold,
            ngram=ngram,
            require_complete=require_complete,
            **options,
        )
        Console().print(_table(summary))
