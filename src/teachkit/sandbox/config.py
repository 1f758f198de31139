"""How the sandbox isolates (the settings), what it found on this machine (the report), and
what to do when it cannot isolate well (the hints)."""

from __future__ import annotations

import itertools
import os
import site
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_PRELOAD", "IdMapping", "SandboxConfig", "SandboxReport", "weak_hints"]

#: modules the zygote imports once, so a program starts with them warm
DEFAULT_PRELOAD = (
    "abc",
    "array",
    "ast",
    "base64",
    "binascii",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "collections.abc",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fnmatch",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "hmac",
    "inspect",
    "io",
    "itertools",
    "json",
    "linecache",
    "locale",
    "math",
    "numbers",
    "operator",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shutil",
    "socket",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "tokenize",
    "traceback",
    "types",
    "typing",
    "unicodedata",
    "uuid",
    "weakref",
    "zlib",
)

#: host directories every sandbox sees, read-only, when they exist
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

#: host uid/gid range used for sandbox identities when teachkit runs as root
UID_BASE = 1_500_000_000

_slots = itertools.count()


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How workers are isolated.

    ``isolation``: ``auto`` uses namespaces when the kernel allows them and otherwise falls back
    to the weak mode (refused unless the caller allows a weak sandbox); ``namespaces`` insists;
    ``none`` asks for the weak mode (rlimits, uid switch, Landlock; tests and debugging).
    ``ro_paths`` are extra host paths the programs may read. ``site_packages``: programs may
    import installed packages (read-only).
    """

    isolation: Literal["auto", "namespaces", "none"] = "auto"
    landlock: bool = True
    #: a cgroup per worker (memory and processes of the whole program) where one can be made
    cgroup: bool = True
    ro_paths: tuple[str, ...] = ()
    site_packages: bool = True
    preload: tuple[str, ...] = tuple(DEFAULT_PRELOAD)
    python: str = field(default_factory=lambda: sys.executable)
    start_timeout: float = 30.0
    #: a worker is replaced after this many programs even when all went well
    max_runs: int = 1000

    def readonly_paths(self) -> list[str]:
        paths = [p for p in SYSTEM_PATHS if os.path.lexists(p)]
        python_dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        python_dirs.add(str(Path(os.path.realpath(self.python)).parent.parent))
        python_dirs.add(str(Path(self.python).parent.parent))
        for key in ("stdlib", "platstdlib"):
            python_dirs.add(sysconfig.get_paths()[key])
        if self.site_packages:
            python_dirs.update(site.getsitepackages())
            python_dirs.update(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
        paths.extend(sorted(p for p in python_dirs if os.path.isdir(p)))
        paths.extend(os.path.abspath(p) for p in self.ro_paths)
        return paths


@dataclass(frozen=True, slots=True)
class IdMapping:
    """Who the zygote and the programs are on the host.

    As root, each worker gets two host uids of its own (``zygote`` and ``child``; gids alike),
    so a program can neither signal nor trace its zygote, and RLIMIT_NPROC counts the program's
    processes only. As an ordinary user, both are that user (inside a user namespace).
    """

    mode: Literal["multi", "single", "weak-root", "weak"]
    zygote: int
    child: int
    gid_zygote: int
    gid_child: int

    @classmethod
    def for_host(cls, *, namespaces: bool) -> IdMapping:
        euid, egid = os.geteuid(), os.getegid()
        if euid != 0:
            return cls("single" if namespaces else "weak", euid, euid, egid, egid)
        slot = (os.getpid() % 4096) * 256 + next(_slots) % 256
        low = _mapped_base(UID_BASE, 2 * slot)
        return cls("multi" if namespaces else "weak-root", low, low + 1, low, low + 1)

    def maps(self) -> tuple[str, str, str | None]:
        """uid_map, gid_map and setgroups contents written for the zygote's user namespace."""
        if self.mode == "multi":
            uid_map = f"0 {self.zygote} 1\n1000 {self.child} 1\n"
            gid_map = f"0 {self.gid_zygote} 1\n1000 {self.gid_child} 1\n"
            return uid_map, gid_map, None
        return f"1000 {self.zygote} 1\n", f"1000 {self.gid_zygote} 1\n", "deny"


def _mapped_base(base: int, offset: int) -> int:
    """A host id pair at ``base + offset`` when the ids are mapped in our own user namespace
    (always, on a host), else the same offset below the top of the largest mapped range (root
    in a container with a partial map)."""
    ranges = []
    try:
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _outside, count = (int(x) for x in line.split())
            ranges.append((inside, count))
    except (OSError, ValueError):
        return base + offset
    for inside, count in ranges:
        if inside <= base + offset and base + offset + 1 < inside + count:
            return base + offset
    inside, count = max(ranges, key=lambda r: r[1])
    top = inside + count - 2 - (offset % max(count - 2, 2))
    return max(top, inside + 1)


@dataclass(frozen=True, slots=True)
class SandboxReport:
    """The isolation layers the workers have on this machine, found at start-up."""

    strong: bool
    mode: str
    layers: dict[str, str]
    missing: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "strong": self.strong,
            "mode": self.mode,
            "layers": dict(self.layers),
            "missing": list(self.missing),
        }

    @classmethod
    def from_zygote(
        cls, found: dict[str, Any], mapping: IdMapping, limit_processes: bool
    ) -> SandboxReport:
        layers = {
            "process tree": "own session; every process it leaves is killed after each program",
            "environment": "scrubbed: PATH, LANG, HOME and TMPDIR only",
        }
        missing: list[str] = []
        limits = "cpu, address space, file size, open files"
        layers["rlimits"] = limits + (", processes" if limit_processes else "")
        if not limit_processes:
            missing.append("process limit (RLIMIT_NPROC counts every process of this user)")
        if mapping.mode == "multi":
            layers["uid"] = (
                f"programs run as host uid {mapping.child}, their zygote as {mapping.zygote}"
            )
        elif mapping.mode == "weak-root":
            layers["uid"] = f"programs run as host uid {mapping.child}"
        else:
            layers["uid"] = f"programs run as this user (uid {mapping.child})"
            if mapping.mode == "weak":
                missing.append("uid separation")
        if found.get("namespaces"):
            layers["namespaces"] = "user, PID, network, mount, IPC, UTS"
            layers["filesystem"] = (
                "read-only root with only system and Python directories; writable: /tmp, a "
                "size-limited tmpfs emptied after every program"
            )
            layers["network"] = "none (a new network namespace without interfaces)"
            layers["/proc"] = (
                "private to the PID namespace" if found.get("proc") == "private" else "absent"
            )
            if not found.get("nested_userns", True):
                layers["nested namespaces"] = "refused"
        else:
            layers["working directory"] = "fresh directory per program, removed afterwards"
            missing.extend(["PID namespace", "network namespace", "read-only filesystem"])
        cgroup = int(found.get("cgroup") or 0)
        if cgroup:
            layers["cgroup"] = (
                f"v{cgroup}: one memory and process budget for all of a program's processes"
            )
        else:
            missing.append("cgroup (a program's processes may hold processes × memory bytes)")
        abi = int(found.get("landlock_abi") or 0)
        strong = bool(found.get("namespaces"))
        if abi:
            denied = ["TCP"] if abi >= 4 else []
            denied += ["signals and abstract sockets outside the sandbox"] if abi >= 6 else []
            if not strong:
                denied.insert(0, "writes outside the working directory")
            what = f"ABI {abi}: denies " + ", ".join(denied) if denied else f"ABI {abi}"
            layers["landlock"] = what + "; sealed harnesses also lose /proc"
        else:
            missing.append("Landlock")
        return cls(
            strong=strong,
            mode="namespaces" if strong else "weak",
            layers=layers,
            missing=tuple(missing),
            hints=() if strong else tuple(weak_hints()),
        )


def weak_hints() -> list[str]:
    """What to change on this machine to get the namespace layers."""

    def read(path: str) -> str:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return ""

    hints = []
    if read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        hints.append("enable user namespaces: sudo sysctl -w kernel.unprivileged_userns_clone=1")
    if read("/proc/sys/user/max_user_namespaces") == "0":
        hints.append("allow user namespaces: sudo sysctl -w user.max_user_namespaces=15000")
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        hints.append(
            "let AppArmor allow user namespaces: "
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        )
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        hints.append(
            "in a container, allow the unshare system call: run it with "
            "--security-opt seccomp=unconfined --security-opt apparmor=unconfined"
        )
    if not hints:
        hints.append(
            "make sure the kernel allows user namespaces (CONFIG_USER_NS) for this user: "
            "`unshare --user --map-root-user --pid --fork --mount --net true` must succeed"
        )
    return hints
