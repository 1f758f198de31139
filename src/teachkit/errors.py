"""Every exception teachkit raises on purpose.

The hierarchy (exit codes of the command line in brackets)::

    TeachkitError                  base: the CLI turns it into a message and an exit code [1]
    ├── RecipeError                a recipe (file, Python objects or --set override) is invalid [2]
    ├── PluginError                a teacher, generator, filter, verifier or format plugin is
    │                              unknown or cannot be loaded [2]
    ├── MissingExtraError          an optional dependency is missing (names the pip command) [3]
    ├── RunDirError                the run directory cannot be used (other recipe, corrupt, locked,
    │                              not a teachkit directory) [4]
    ├── DataError                  an input data file cannot be read (path, line, problem) [5]
    ├── ExportError                training files cannot be written as asked [5]
    ├── TeacherError               the teacher could not give an answer [6]
    │   ├── ConfigError            the teacher is misconfigured (missing key, unknown model file)
    │   ├── RetryableError         a transient failure: 429, 5xx, timeout, dropped connection
    │   ├── RequestRejectedError   a permanent failure for this request (400, content filter)
    │   └── CircuitOpenError       the server kept failing; the run stops cleanly and can resume [7]
    ├── BudgetExceededError        the configured budget_usd is spent; the run stops cleanly [8]
    ├── SandboxError               the sandbox cannot give the isolation a verifier needs [10]
    ├── TemplateLimitError         a template took too long or rendered too much text [2]
    └── EnvironmentFault           the machine refused: disk full, read-only, permission [11]

Exit codes of the command line that no exception carries: 0 success (the records asked for are
there), 9 the run ended without them (``incomplete``: run.max_requests reached; ``exhausted``:
the generator ran out of work), 70 an unexpected error (a bug: run with ``--debug`` and report
it), 130 interrupted by Ctrl-C (the run resumes). Usage errors (unknown flag, missing argument)
exit with 2. The constants below name them.

Messages are whole sentences that say what happened and what to do about it. Every error also
carries its context as attributes (``path``, ``line``, ``backend``, ``model``, ...), collected in
:attr:`TeachkitError.context`, so callers can act on it without parsing the message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_CODES",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNEXPECTED",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "DataError",
    "EnvironmentFault",
    "ExportError",
    "MissingExtraError",
    "PluginError",
    "RecipeError",
    "RequestRejectedError",
    "RetryableError",
    "RunDirError",
    "SandboxError",
    "TeacherError",
    "TeachkitError",
    "TemplateLimitError",
]


class TeachkitError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with; ``context`` holds the facts
    (path, line, backend, model, ...) the error is about, also readable as attributes."""

    exit_code = 1

    def __init__(self, message: str = "", **context: Any) -> None:
        super().__init__(message)
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __getattr__(self, name: str) -> Any:
        # only called for attributes that are not set: the context entries
        context = self.__dict__.get("context", {})
        if name in context:
            return context[name]
        raise AttributeError(name)

    def __reduce__(self) -> Any:  # picklable across processes (worker pools, Ray)
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type[TeachkitError], message: str, state: dict[str, Any]) -> TeachkitError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class RecipeError(TeachkitError):
    """A recipe is invalid: the message names the field path, the bad value and what is expected."""

    exit_code = 2


class PluginError(RecipeError):
    """An extension named in a recipe is unknown, or its module fails to import."""


class TemplateLimitError(RecipeError):
    """Rendering a template went past its time or size bound."""


class MissingExtraError(TeachkitError):
    """An optional dependency is missing. The message carries the exact ``pip install`` command."""

    exit_code = 3

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'teachkit[{extra}]'",
            package=package,
            extra=extra,
        )


class RunDirError(TeachkitError):
    """The run directory cannot be used as asked."""

    exit_code = 4


class DataError(TeachkitError):
    """An input data file cannot be read."""

    exit_code = 5


class ExportError(TeachkitError):
    """Training files cannot be written as asked (bad option, nothing to write, no room)."""

    exit_code = 5


class TeacherError(TeachkitError):
    """The teacher could not give an answer."""

    exit_code = 6
    #: short machine-friendly reason used in rejected records and the manifest
    reason = "teacher_error"


class ConfigError(TeacherError):
    """The teacher is misconfigured: a missing API key, an unreadable model file."""

    reason = "teacher_config"


class RetryableError(TeacherError):
    """A transient failure that is worth retrying after ``retry_after`` seconds (if known)."""

    reason = "teacher_transient"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.status = status
        self.retry_after = retry_after


class RequestRejectedError(TeacherError):
    """The server refused this request for good (HTTP 400, 404, content policy)."""

    reason = "teacher_rejected"

    def __init__(self, message: str, *, status: int | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.status = status


class CircuitOpenError(TeacherError):
    """The teacher failed too many times in a row; the run stops and can be resumed."""

    reason = "circuit_open"
    exit_code = 7


class BudgetExceededError(TeachkitError):
    """The run spent its ``budget_usd``; it stops and can be resumed with a higher budget."""

    exit_code = 8


class SandboxError(TeachkitError):
    """The sandbox cannot provide the isolation asked for (and says how to get it)."""

    exit_code = 10


class EnvironmentFault(TeachkitError):
    """The machine refused an operation teachkit needs: the disk is full, a folder is read-only,
    a path is a file where a folder is needed. The message names the path and the fix."""

    exit_code = 11


#: a run that did what was asked (or found it done)
EXIT_OK = 0
#: a run that ended without its records (incomplete or exhausted); it says what to change
EXIT_INCOMPLETE = 9
#: an unexpected error: a bug, shown with its traceback under --debug
EXIT_UNEXPECTED = 70
#: Ctrl-C: the run stopped cleanly and resumes with the same command
EXIT_INTERRUPTED = 130

#: every exit code the command line uses, and what it means
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    TeachkitError.exit_code: "error",
    RecipeError.exit_code: "recipe or plugin error, or a usage error",
    MissingExtraError.exit_code: "optional dependency missing",
    RunDirError.exit_code: "run directory cannot be used",
    DataError.exit_code: "input data or export error",
    TeacherError.exit_code: "teacher error",
    CircuitOpenError.exit_code: "teacher kept failing (circuit open); resumes",
    BudgetExceededError.exit_code: "budget spent; resumes with a higher budget",
    EXIT_INCOMPLETE: "run ended without its records (incomplete or exhausted)",
    SandboxError.exit_code: "sandbox unavailable",
    EnvironmentFault.exit_code: "the machine refused (disk full, read-only, permission)",
    EXIT_UNEXPECTED: "unexpected error (a bug)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); resumes",
}
