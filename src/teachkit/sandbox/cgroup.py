"""A cgroup per worker: one memory and process budget for the whole tree of a program.

rlimits are per process, so without a cgroup a program's processes together may hold
``processes × memory`` bytes. Where teachkit can create cgroups (v2 with the ``memory`` and
``pids`` controllers delegated, or v1 with writable ``memory`` and ``pids`` hierarchies, as root
usually), each worker gets its own, and the kernel's OOM killer stops a program that goes over.
This layer is optional: it is reported as present or missing, never required.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

__all__ = ["Cgroup", "budget"]

log = logging.getLogger("teachkit")

ROOT = Path("/sys/fs/cgroup")
PREFIX = "teachkit-"


def budget(memory: int, tmpfs: int, processes: int) -> tuple[int, int]:
    """A worker's cgroup limits for a program's limits: one process's address space plus its
    tmpfs and the zygote's own memory, for all its processes together."""
    return memory + tmpfs + (128 << 20), processes + 4


class Cgroup:
    """The cgroup(s) of one worker (one directory on v2, one per controller on v1)."""

    def __init__(self, version: int, memory: Path, pids: Path) -> None:
        self.version, self.memory, self.pids = version, memory, pids
        self.limits: tuple[int, int] | None = None

    @classmethod
    def create(cls, name: str) -> Cgroup | None:
        """A new cgroup named ``teachkit-<name>``, or None where this process cannot make one."""
        for make in (cls._v2, cls._v1):
            with contextlib.suppress(OSError, ValueError):
                group = make(PREFIX + name)
                if group is not None:
                    return group
        return None

    @classmethod
    def _v2(cls, name: str) -> Cgroup | None:
        if not (ROOT / "cgroup.controllers").exists():
            return None
        own = _own_path("")
        for parent in (ROOT / own.lstrip("/"), ROOT):
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            if {"memory", "pids"} <= set(enabled):
                _sweep(parent)
                path = parent / name
                path.mkdir()
                return cls(2, path, path)
        return None

    @classmethod
    def _v1(cls, name: str) -> Cgroup | None:
        memory_root, pids_root = ROOT / "memory", ROOT / "pids"
        if not (memory_root / "memory.limit_in_bytes").exists() or not pids_root.is_dir():
            return None
        memory = memory_root / _own_path("memory").lstrip("/") / name
        pids = pids_root / _own_path("pids").lstrip("/") / name
        for path in (memory, pids):
            _sweep(path.parent)
            path.mkdir()
        return cls(1, memory, pids)

    def add(self, pid: int) -> None:
        """Put ``pid`` (and so everything it forks later) in this cgroup."""
        for path in {self.memory, self.pids}:
            (path / "cgroup.procs").write_text(str(pid))

    def limit(self, memory: int, processes: int) -> None:
        if self.limits == (memory, processes):
            return
        if self.version == 2:
            (self.memory / "memory.max").write_text(str(memory))
            with contextlib.suppress(OSError):
                (self.memory / "memory.swap.max").write_text("0")
        else:  # memory+swap must stay >= memory: the order depends on the direction
            limit, memsw = (
                self.memory / "memory.limit_in_bytes",
                self.memory / "memory.memsw.limit_in_bytes",
            )
            try:
                limit.write_text(str(memory))
            except OSError:
                memsw.write_text(str(memory))
                limit.write_text(str(memory))
            with contextlib.suppress(OSError):  # no swap either, where the kernel accounts it
                memsw.write_text(str(memory))
        (self.pids / "pids.max").write_text(str(processes))
        self.limits = (memory, processes)

    def oom_kills(self) -> int:
        """How many processes the OOM killer has stopped in this cgroup so far."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def remove(self) -> None:
        """Remove the (by now empty) cgroup; the kernel may take a moment to let it go."""
        for path in {self.memory, self.pids}:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
            else:
                log.warning("sandbox: could not remove the cgroup %s", path)


def _own_path(controller: str) -> str:
    """This process's cgroup path for ``controller`` ('' = the v2 unified hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path
    raise ValueError(f"no cgroup for {controller or 'the unified hierarchy'}")


def _sweep(parent: Path) -> None:
    """Remove cgroups left by teachkit processes that no longer exist (killed with -9)."""
    for path in parent.glob(PREFIX + "*"):
        owner = path.name[len(PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()
