"""``teachkit filter``: run a recipe's filter chain over data the user already has."""

from __future__ import annotations

from pathlib import Path

import typer

from teachkit.cli.core import AllowPathOption, SetOption, out, print_summary
from teachkit.cli.progress import make_progress
from teachkit.engine.curate import curate
from teachkit.recipe.load import load_recipe

__all__ = ["register"]


def filter_command(
    source: Path = typer.Argument(
        ..., help="Rows to clean: chat JSONL, teachkit records, Alpaca, ShareGPT or Self-Instruct."
    ),
    recipe: Path = typer.Option(..., "--recipe", "-r", help="Recipe whose filters to apply."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run directory to write."),
    overrides: list[str] | None = SetOption,
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not cache judge answers."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    allow_paths: list[Path] | None = AllowPathOption,
) -> None:
    """Filter existing data with a recipe's filter chain (same accepted/rejected output)."""
    from teachkit.cli.core import err

    loaded = load_recipe(recipe, overrides or [], allow_paths=allow_paths or [])
    summary = curate(
        source, loaded, out_dir, use_cache=not no_cache, progress=make_progress(err, quiet=quiet)
    )
    print_summary(summary)
    out.print(summary.message)


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_command)
