"""Where a recipe runs: the local async engine over the run directory."""

from teachkit.engine.api import (
    DryRun,
    RunSummary,
    filter_data,
    filter_data_async,
    plan,
    resolve_out,
    run,
    run_async,
)
from teachkit.engine.progress import Progress, ProgressSink
from teachkit.rundir.layout import RunDir
from teachkit.rundir.state import RunState, RunStatus, run_state
from teachkit.rundir.store import read_accepted, read_rejected

__all__ = [
    "DryRun",
    "Progress",
    "ProgressSink",
    "RunDir",
    "RunState",
    "RunStatus",
    "RunSummary",
    "filter_data",
    "filter_data_async",
    "plan",
    "read_accepted",
    "read_rejected",
    "resolve_out",
    "run",
    "run_async",
    "run_state",
]
