"""``teachkit sandbox check``: which isolation layers this machine gives, and a self-test."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["check", "register"]

sandbox_app = typer.Typer(
    help="The process sandbox that runs generated code.", no_args_is_help=True
)


@sandbox_app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the sandbox layers active on this machine and run a short self-test.

    Exits 0 when every layer is there and every check passed, 10 when the namespace layers are
    missing (code verification then needs allow_weak_sandbox), 1 when a check failed.
    """
    from teachkit.sandbox import SandboxPool
    from teachkit.sandbox.selftest import self_test

    async def go() -> tuple[object, list[object]]:
        async with SandboxPool(size=1, allow_weak=True) as pool:
            checks = await self_test(pool)
            return pool.report, list(checks)

    report, checks = asyncio.run(go())
    from teachkit.sandbox import SandboxReport
    from teachkit.sandbox.selftest import Check

    assert isinstance(report, SandboxReport)
    results = [c for c in checks if isinstance(c, Check)]
    failed = [c for c in results if not c.ok]
    if as_json:
        out = report.to_dict()
        out["hints"] = list(report.hints)
        out["checks"] = [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in results]
        print(json.dumps(out, indent=2))
    else:
        console = Console(highlight=False, soft_wrap=True)
        strength = "strong" if report.strong else "WEAK"
        console.print(f"[bold]Sandbox layers[/] ({strength}, mode {report.mode}):")
        for name, what in report.layers.items():
            console.print(f"  [green]on[/]   {name}: {what}")
        for name in report.missing:
            console.print(f"  [red]off[/]  {name}")
        console.print("[bold]Self-test:[/]")
        for c in results:
            mark = "[green]pass[/]" if c.ok else "[red]FAIL[/]"
            console.print(f"  {mark} {c.name}: {c.detail}")
        for hint in report.hints:
            console.print(f"[yellow]To get the namespace layers:[/] {hint}")
    if not report.strong:
        raise typer.Exit(10)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``sandbox`` command group to the root CLI."""
    app.add_typer(sandbox_app, name="sandbox")
