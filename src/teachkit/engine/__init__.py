"""Where a recipe runs: the local async engine, its run directory and store."""

from teachkit.engine.api import DryRun, RunSummary, plan, resolve_out, run, run_async
from teachkit.engine.progress import Progress, ProgressSink
from teachkit.rundir.layout import RunDir
from teachkit.rundir.store import read_accepted, read_rejected

__all__ = [
    "DryRun",
    "Progress",
    "ProgressSink",
    "RunDir",
    "RunSummary",
    "plan",
    "read_accepted",
    "read_rejected",
    "resolve_out",
    "run",
    "run_async",
]
