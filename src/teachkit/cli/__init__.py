"""The command line: thin, it parses flags, calls the library and draws progress.

Library errors (:class:`TeachkitError`) become one or two sentences and an exit code; a traceback
is shown only with ``--debug``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import typer
from rich.console import Console

from teachkit.errors import TeachkitError

__all__ = ["app", "main"]

app = typer.Typer(
    name="teachkit",
    help="Turn a strong teacher LLM into a factory of fine-tuning data for a smaller student.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)
_state: dict[str, Any] = {"debug": False}

#: command modules; each has ``register(app)``
_COMMAND_MODULES = (
    "teachkit.cli.core",
    "teachkit.cli.curate",
    "teachkit.cli.export",
    "teachkit.cli.serve",
    "teachkit.cli.sandbox",
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show info logs."),
) -> None:
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("teachkit").setLevel(level)


for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # a command module absent from this install
        if _exc.name != _name:
            raise
        continue
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app, turn errors into messages and exit codes."""
    try:
        rc = app(args=argv, standalone_mode=False)
    except TeachkitError as exc:
        if _state["debug"]:
            err.print_exception()
        err.print(f"[bold red]Error:[/] {exc}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("Interrupted. Run the same command again to resume.")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except Exception as exc:  # usage errors (click, or the click vendored by typer) and bugs
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        if type(exc).__name__ == "Abort":
            err.print("Aborted.")
            return 1
        if _state["debug"]:
            raise
        err.print(
            f"[bold red]Unexpected error:[/] {type(exc).__name__}: {exc}. "
            "Run again with --debug for the traceback, and report it if it persists.",
            soft_wrap=True,
        )
        return 70
    return rc if isinstance(rc, int) else 0
