"""The process sandbox: untrusted programs run here, never in the teachkit process.

Layered isolation, each layer detected when the first worker starts (:class:`SandboxReport`):
a process tree in its own session killed after each program; an empty size-limited tmpfs as the
working directory; a scrubbed environment; rlimits (CPU, address space, file size, open files,
processes); an unprivileged host uid when teachkit runs as root; user, PID, network, mount, IPC
and UTS namespaces with a read-only root; Landlock. See docs/sandbox.md for the threat model.
"""

from teachkit.sandbox.config import SandboxConfig, SandboxReport
from teachkit.sandbox.limits import Limits, Program, RunResult
from teachkit.sandbox.pool import SandboxPool

__all__ = ["Limits", "Program", "RunResult", "SandboxConfig", "SandboxPool", "SandboxReport"]
