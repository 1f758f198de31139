"""``teachkit init``, ``run`` and ``status``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from teachkit.cli.progress import make_progress
from teachkit.engine import RunDir, RunStatus, RunSummary, plan, run, run_state
from teachkit.errors import EXIT_INCOMPLETE, EnvironmentFault, RunDirError
from teachkit.recipe.load import load_recipe

__all__ = ["err", "finish", "out", "print_summary", "register", "starter_recipe"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

SetOption = typer.Option(
    None,
    "--set",
    help="Override a recipe field by its dotted path, e.g. --set generator.count=500 "
    "(repeatable; values are parsed as YAML and validated like the file).",
)

AllowPathOption = typer.Option(
    None,
    "--allow-path",
    help="Let the recipe read data files in this folder too (repeatable). By default a recipe "
    "reads files only inside its own folder.",
)

#: exit codes of runs that ended without raising (stopped and failed runs raise their error)
_STATUS_CODES = {
    RunStatus.COMPLETE: 0,
    RunStatus.ALREADY_COMPLETE: 0,
    RunStatus.INCOMPLETE: EXIT_INCOMPLETE,
    RunStatus.EXHAUSTED: EXIT_INCOMPLETE,
}


def starter_recipe() -> str:
    return files("teachkit").joinpath("data/starter.yaml").read_text(encoding="utf-8")


def init(
    path: Path = typer.Argument(..., help="Where to write the starter recipe (YAML)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter recipe that runs as-is on the embedded teacher."""
    if path.is_dir():
        raise EnvironmentFault(
            f"{path} is a folder; give the name of the recipe file, e.g. {path}/demo.yaml.",
            path=str(path),
        )
    if path.exists() and not force:
        raise RunDirError(f"{path} already exists; pass --force to overwrite it.")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:  # checked before any folder is made
        raise EnvironmentFault(
            f"{blocker} is a file, so {path} cannot be written inside it. Choose another path, "
            "or move that file away.",
            path=str(blocker),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_text(starter_recipe(), encoding="utf-8")
    except OSError as exc:  # a write names no file: name it
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    out.print(f"Wrote {path}. Next: teachkit run {path} --out runs/{path.stem}")


def _drop_table(drops: dict[str, dict[str, int]]) -> Table:
    table = Table(title="Dropped", show_edge=False)
    table.add_column("filter")
    table.add_column("reason")
    table.add_column("records", justify="right")
    for name, reasons in drops.items():
        if not isinstance(reasons, dict):
            continue
        for reason, n in sorted(
            reasons.items(), key=lambda kv: -kv[1] if isinstance(kv[1], int) else 0
        ):
            table.add_row(str(name), str(reason), str(n))
    return table


def print_summary(summary: RunSummary) -> None:
    m = summary.manifest
    funnel = m.get("funnel", {})
    table = Table(title=f"Run {summary.run_dir}", show_edge=False)
    table.add_column("stage")
    table.add_column("count", justify="right")
    table.add_row("requested", str(summary.requested))
    table.add_row("teacher answers", str(funnel.get("answers", "")))
    table.add_row("generated", str(funnel.get("generated", "")))
    table.add_row("rejected", str(summary.rejected))
    table.add_row("accepted", f"[bold]{summary.accepted}[/]")
    usage = m.get("usage", {}).get("teachers", {})
    for name, stats in usage.items():
        tokens = int(stats.get("prompt_tokens", 0)) + int(stats.get("completion_tokens", 0))
        table.add_row(
            f"{name} ({stats.get('model', '')})",
            f"{stats.get('requests', 0)} requests, {stats.get('cached', 0)} cached, "
            f"{tokens} tokens",
        )
    if m.get("cost_usd"):
        table.add_row("cost (USD)", f"{m['cost_usd']:.4f}")
    out.print(table)
    if summary.drops:
        out.print(_drop_table(summary.drops))
    _print_generator_stats(m.get("generator", {}))


def _flat(stats: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested generator statistics as (dotted key, short value) rows."""
    rows: list[tuple[str, str]] = []
    for key, value in stats.items():
        name = f"{prefix}{key}"
        if (
            isinstance(value, dict)
            and value
            and all(not isinstance(v, dict) for v in value.values())
        ):
            rows.append((name, ", ".join(f"{k}: {v}" for k, v in value.items())))
        elif isinstance(value, dict):
            rows += _flat(value, f"{name}.")
        elif value is not None:
            rows.append((name, str(value)))
    return rows


def _print_generator_stats(stats: dict[str, Any]) -> None:
    axes = stats.get("axes")
    if isinstance(axes, dict) and isinstance(axes.get("axes"), dict):
        table = Table(title="Axis coverage (accepted records)", show_edge=False)
        table.add_column("axis")
        table.add_column("values seen", justify="right")
        for name, info in axes["axes"].items():
            seen = info.get("seen", "") if isinstance(info, dict) else ""
            total = info.get("values", "") if isinstance(info, dict) else ""
            table.add_row(name, f"{seen}/{total}")
        out.print(table)
    rest = {k: v for k, v in stats.items() if k != "axes"}
    if rest:
        table = Table(title="Generator statistics", show_edge=False)
        table.add_column("statistic")
        table.add_column("value", overflow="fold")
        for key, value in _flat(rest):
            table.add_row(key, value)
        out.print(table)


def run_command(
    recipe: Path = typer.Argument(..., help="The recipe YAML file."),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", help="Run directory (default: output.dir or runs/<name>)."
    ),
    overrides: list[str] | None = SetOption,
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the cache."),
    cache: str | None = typer.Option(
        None, "--cache", help="Request cache file (default: cache.sqlite in the run directory)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print requests, tokens and cost; call no teacher."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    allow_paths: list[Path] | None = AllowPathOption,
) -> None:
    """Run a recipe into a run directory; run it again to resume after a crash or kill."""
    loaded = load_recipe(recipe, overrides or [], allow_paths=allow_paths or [])
    if dry_run:
        estimate = plan(loaded)
        table = Table(title="Dry run (no teacher called)", show_edge=False)
        table.add_column("")
        table.add_column("estimate", justify="right")
        table.add_row(
            "teacher", f"{estimate.teacher.get('backend')} {estimate.teacher.get('model')}"
        )
        table.add_row("requests", str(estimate.requests))
        table.add_row("prompt tokens", str(estimate.prompt_tokens))
        table.add_row("completion tokens (at most)", str(estimate.completion_tokens))
        cost = (
            "unknown (no price for this model)"
            if estimate.cost_usd is None
            else (f"{estimate.cost_usd:.4f}")
        )
        table.add_row("cost (USD, at most)", cost)
        out.print(table)
        if estimate.sample_prompts:
            out.print("[bold]First prompt:[/]")
            out.print(estimate.sample_prompts[0], markup=False)
        return
    progress = make_progress(err, quiet=quiet)
    summary = run(loaded, out_dir, use_cache=not no_cache, cache_path=cache, progress=progress)
    if summary.status == "already_complete":
        out.print(summary.message)
        return
    print_summary(summary)
    finish(summary)


def finish(summary: RunSummary) -> None:
    """Print the run's closing sentence and exit with its status's code."""
    out.print(summary.message)
    code = _STATUS_CODES.get(summary.status, 1)
    if code:
        raise typer.Exit(code)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def status(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Show where a run stands: status and counts from its journal (a killed run says so),
    funnel, drop reasons and tokens from its manifest."""
    state = run_state(run_dir)
    rundir = RunDir(run_dir)
    problem: RunDirError | None = None
    try:
        manifest = rundir.read_manifest() or {}
    except RunDirError as exc:
        manifest, problem = {}, exc
    said = manifest.get("accepted")
    if problem is None and isinstance(said, int) and said > state.accepted:
        problem = RunDirError(
            f"manifest.json says {said} records were accepted but the journal commits only "
            f"{state.accepted}: journal.jsonl was damaged or replaced. Restore it from a backup; "
            f"or keep the {state.accepted} committed records by moving manifest.json away and "
            "running the same command again.",
            path=str(run_dir),
        )
    status_text = str(state.status)
    if state.live:
        status_text += " (a process is working on it now)"
    table = Table(title=f"{run_dir}", show_edge=False)
    table.add_column("key")
    table.add_column("value")
    requested = state.requested if state.requested is not None else manifest.get("requested", "")
    rows = [
        ("status", status_text),
        ("recipe", manifest.get("recipe", "")),
        ("requested", requested),
        ("accepted", state.accepted),
        ("rejected", state.rejected),
        ("jobs", f"{state.jobs} created, {state.committed} committed, {state.pending} pending"),
        ("cost_usd", manifest.get("cost_usd", "")),
        ("message", state.message or manifest.get("message", "")),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    for name, usage in state.usage.items():
        table.add_row(
            f"teacher {name}",
            f"{usage.requests} paid answers, {usage.cached} cached, {usage.failed} failed, "
            f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens",
        )
    timings = _mapping(manifest.get("timings"))
    table.add_row("elapsed (s)", str(timings.get("elapsed_s", "")))
    table.add_row("manifest updated", str(timings.get("updated", "")))
    for stage, stats in _mapping(_mapping(manifest.get("usage")).get("stages")).items():
        if not isinstance(stats, dict):
            continue
        table.add_row(
            f"stage {stage}",
            f"{stats.get('answers', 0)} answers ({stats.get('cached', 0)} cached, "
            f"{stats.get('failed', 0)} failed), {stats.get('prompt_tokens', 0)} prompt + "
            f"{stats.get('completion_tokens', 0)} completion tokens",
        )
    out.print(table)
    drops = manifest.get("drops")
    if isinstance(drops, dict) and drops:
        out.print(_drop_table(drops))
    generator = manifest.get("generator")
    if isinstance(generator, dict):
        _print_generator_stats(generator)
    if problem is not None:
        raise problem


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("run")(run_command)
    app.command("status")(status)
