"""``teachkit filter``: run a recipe's filter chain over data the user already has."""

from __future__ import annotations

from pathlib import Path

import typer

from teachkit.cli.core import AllowPathOption, SetOption, err, finish, out, print_summary
from teachkit.cli.progress import make_progress
from teachkit.engine import filter_data
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
    cache: str | None = typer.Option(
        None, "--cache", help="Request cache file (default: cache.sqlite in the run directory)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    allow_paths: list[Path] | None = AllowPathOption,
) -> None:
    """Filter existing data with a recipe's filter chain (same accepted/rejected output)."""
    loaded = load_recipe(recipe, overrides or [], allow_paths=allow_paths or [])
    summary = filter_data(
        source,
        loaded,
        out_dir,
        use_cache=not no_cache,
        cache_path=cache,
        progress=make_progress(err, quiet=quiet),
    )
    if summary.status == "already_complete":
        out.print(summary.message)
        return
    print_summary(summary)
    finish(summary)


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_command)
