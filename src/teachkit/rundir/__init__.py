"""The run directory: layout, the journal (the commit point), append-only shards, manifest I/O,
the readers of committed records, and the state of a run."""

from teachkit.rundir.journal import TeacherUsage
from teachkit.rundir.layout import DirKind, RunDir, atomic_write
from teachkit.rundir.state import RunState, RunStatus, ledger, run_state
from teachkit.rundir.store import Recovered, Store, read_accepted, read_rejected

__all__ = [
    "DirKind",
    "Recovered",
    "RunDir",
    "RunState",
    "RunStatus",
    "Store",
    "TeacherUsage",
    "atomic_write",
    "ledger",
    "read_accepted",
    "read_rejected",
    "run_state",
]
