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

from teachkit.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, EnvironmentFault, TeachkitError

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
    "teachkit.cli.filter",
    "teachkit.cli.export",
    "teachkit.cli.serve",
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
        return _interrupted()
    except typer.Exit as exc:
        # typer turns Ctrl-C into Exit(130) raised from the KeyboardInterrupt
        if isinstance(exc.__cause__, KeyboardInterrupt) or exc.exit_code == EXIT_INTERRUPTED:
            return _interrupted()
        return int(exc.exit_code)
    except OSError as exc:  # the machine refused something no library call expected
        if _state["debug"]:
            err.print_exception()
        fault = EnvironmentFault(
            f"The machine refused an operation on {exc.filename or 'a file'}: "
            f"{exc.strerror or exc}. Free space or fix the permissions, then run again."
        )
        err.print(f"[bold red]Error:[/] {fault}", soft_wrap=True)
        return fault.exit_code
    except Exception as exc:  # usage errors (click, or the click vendored by typer) and bugs
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        if type(exc).__name__ == "Abort":
            if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
                return _interrupted()
            err.print("Aborted.")
            return 1
        if _state["debug"]:
            raise
        err.print(
            f"[bold red]Unexpected error:[/] {type(exc).__name__}: {exc}. "
            "Run again with --debug for the traceback, and report it if it persists.",
            soft_wrap=True,
        )
        return EXIT_UNEXPECTED
    if rc == EXIT_INTERRUPTED:  # click returns typer's Exit(130) for Ctrl-C as the exit code
        return _interrupted()
    return rc if isinstance(rc, int) else 0


def _interrupted() -> int:
    err.print("Interrupted. Run the same command again to resume.")
    return EXIT_INTERRUPTED
