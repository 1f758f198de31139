"""The command line: thin, it parses flags, calls the library and draws progress.

Library errors (:class:`TeachkitError`) become one or two sentences and an exit code; a traceback
is shown only with ``--debug``. The machine refusing something (a full disk, a read-only folder,
a file where a folder should be: any ``OSError``) becomes an :class:`EnvironmentFault` sentence
naming the path, in one place: :func:`environment_fault`.
"""

from __future__ import annotations

import errno
import importlib
import logging
import sys
from typing import Any

import typer
from rich.console import Console

from teachkit.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, EnvironmentFault, TeachkitError

__all__ = ["app", "environment_fault", "main"]

#: errno -> what happened to {path}, and what to do (one sentence each)
_FAULTS: dict[int, str] = {
    errno.ENOSPC: "The disk holding {path} is full. Free some space, then run the same command "
    "again (a run resumes where it stopped).",
    errno.EDQUOT: "The disk quota for {path} is used up. Free some space or raise the quota, "
    "then run the same command again.",
    errno.EROFS: "{path} is on a read-only file system. Choose a writable place (for a run: "
    "--out DIR; for the cache: --cache FILE).",
    errno.EACCES: "Permission to use {path} is denied. Fix its permissions, or choose another "
    "place.",
    errno.EPERM: "The system does not allow this operation on {path}. Fix its permissions, or "
    "choose another place.",
    errno.ENOTDIR: "A part of {path} is a file, not a folder. Move that file away or choose "
    "another path.",
    errno.EISDIR: "{path} is a folder where a file is needed. Give a file name, or move the "
    "folder away.",
    errno.EEXIST: "{path} already exists. Move it away or choose another path.",
    errno.ENOENT: "{path} does not exist (or a folder on its way was removed). Check the path.",
    errno.ENAMETOOLONG: "The path {path} is too long for the file system. Choose a shorter one.",
    errno.ELOOP: "{path} goes through a loop of symbolic links. Fix the links.",
    errno.EMFILE: "Too many files are open at once. Raise the limit (ulimit -n) and run again.",
    errno.ENFILE: "The system has too many files open. Close some programs and run again.",
    errno.EIO: "The disk failed while reading or writing {path}. Check the disk, then run again.",
    errno.EBUSY: "{path} is busy (used by another program). Try again when it is free.",
    errno.ETXTBSY: "{path} is busy (used by another program). Try again when it is free.",
    errno.EXDEV: "{path} cannot be moved across file systems. Choose a place on the same disk.",
}


def environment_fault(exc: OSError) -> EnvironmentFault:
    """The sentence for an operating-system refusal, naming the path it concerns."""
    path = exc.filename if exc.filename is not None else exc.filename2
    shown = f"'{path}'" if path is not None else "a file"
    template = _FAULTS.get(exc.errno or -1)
    if template is None:
        reason = exc.strerror or str(exc) or type(exc).__name__
        message = (
            f"The system refused an operation on {shown}: {reason}. Check the path and run again."
        )
    else:
        message = template.format(path=shown)
        if message.startswith("'"):
            message = "The path " + message
    return EnvironmentFault(message, path=None if path is None else str(path), errno=exc.errno)


def _first_cause(exc: BaseException) -> BaseException:
    """The error to report from an exception group (the first teachkit or OS error in it)."""
    if isinstance(exc, BaseExceptionGroup):
        inner = [_first_cause(e) for e in exc.exceptions]
        for wanted in (TeachkitError, OSError):
            for candidate in inner:
                if isinstance(candidate, wanted):
                    return candidate
        return inner[0] if inner else exc
    return exc


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
    "teachkit.cli.eval",
    "teachkit.cli.export",
    "teachkit.cli.report",
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


def _run(argv: list[str] | None) -> Any:
    """The app, with an exception group reduced to its first real cause and an OSError turned
    into an EnvironmentFault sentence."""
    try:
        try:
            return app(args=argv, standalone_mode=False)
        except BaseExceptionGroup as group:  # from task groups: report the first real cause
            raise _first_cause(group) from group
    except OSError as exc:
        if _state["debug"]:
            err.print_exception()
        raise environment_fault(exc) from exc


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app, turn errors into messages and exit codes."""
    try:
        rc = _run(argv)
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
