"""Every exception teachkit raises on purpose.

The hierarchy::

    TeachkitError                  base: the CLI turns it into a message and an exit code
    ├── RecipeError                a recipe (file, Python objects or --set override) is invalid
    ├── MissingExtraError          an optional dependency is not installed (names the pip command)
    ├── RunDirError                the run directory cannot be used (other recipe, corrupt, locked)
    ├── DataError                  an input data file cannot be read (path, line and the problem)
    ├── TeacherError               the teacher could not give an answer
    │   ├── ConfigError            the teacher is misconfigured (missing key, unknown model file)
    │   ├── RetryableError         a transient failure: 429, 5xx, timeout, dropped connection
    │   ├── RequestRejectedError   a permanent failure for this request (400, content filter)
    │   └── CircuitOpenError       the server kept failing; the run stops cleanly and can resume
    └── BudgetExceededError        the configured budget_usd is spent; the run stops cleanly

Messages are whole sentences that say what happened and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "DataError",
    "MissingExtraError",
    "RecipeError",
    "RequestRejectedError",
    "RetryableError",
    "RunDirError",
    "TeacherError",
    "TeachkitError",
]


class TeachkitError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class RecipeError(TeachkitError):
    """A recipe is invalid: the message names the field path, the bad value and what is expected."""

    exit_code = 2


class MissingExtraError(TeachkitError):
    """An optional dependency is missing. The message carries the exact ``pip install`` command."""

    exit_code = 3

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'teachkit[{extra}]'"
        )


class RunDirError(TeachkitError):
    """The run directory cannot be used as asked."""

    exit_code = 4


class DataError(TeachkitError):
    """An input data file cannot be read."""

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
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RequestRejectedError(TeacherError):
    """The server refused this request for good (HTTP 400, 404, content policy)."""

    reason = "teacher_rejected"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CircuitOpenError(TeacherError):
    """The teacher failed too many times in a row; the run stops and can be resumed."""

    reason = "circuit_open"
    exit_code = 7


class BudgetExceededError(TeachkitError):
    """The run spent its ``budget_usd``; it stops and can be resumed with a higher budget."""

    exit_code = 8
