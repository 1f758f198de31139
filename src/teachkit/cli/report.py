"""``teachkit report``: write a run's self-contained ``report.html``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from teachkit.engine.report import report

__all__ = ["register"]

out = Console(highlight=False)


def report_command(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    refresh: bool = typer.Option(
        False, "--refresh", help="Compute the quality panel again (else the manifest's is used)."
    ),
    reference: Path | None = typer.Option(
        None, "--reference", help="Real data to compare with (recomputes the panel)."
    ),
    embeddings: bool | None = typer.Option(
        None,
        "--embeddings/--no-embeddings",
        help="Compute (and cache) the embedding metrics, or leave them out "
        "(default: quality.embeddings of the recipe; the map uses cached vectors).",
    ),
    to: Path | None = typer.Option(None, "--to", help="Write the page here instead."),
) -> None:
    """Write RUN/report.html: funnel, drops, diversity, drift, map, axes, cost, eval, lineage."""
    path = report(
        run_dir,
        refresh=refresh or embeddings is not None,
        reference=reference,
        embeddings=embeddings,
        out=to,
    )
    out.print(f"Report: {path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
