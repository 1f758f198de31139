"""The run directory: layout, the journal (the commit point), append-only shards, manifest I/O
and the readers of committed records."""

from teachkit.rundir.layout import RunDir, atomic_write
from teachkit.rundir.store import Recovered, Store, read_accepted, read_rejected

__all__ = ["Recovered", "RunDir", "Store", "atomic_write", "read_accepted", "read_rejected"]
