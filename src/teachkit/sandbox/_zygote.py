"""The sandbox zygote: a warm interpreter that forks one sandboxed child per program.

Started by :mod:`teachkit.sandbox.pool` as ``python -I -B -c BOOT CONFIG`` with a scrubbed
environment; standard library only (it never imports teachkit). The process tree, when the
kernel allows namespaces::

    supervisor (host, the teachkit process)
      └─ Z0  unshares user, mount, net, ipc, uts and PID namespaces; the supervisor writes its
         │   uid/gid maps; then it only waits for Z1
         └─ Z1  PID 1 of the new PID namespace: builds a read-only root (pivot_root), then serves
             └─ child  one per program: fresh mount namespace with an empty size-limited tmpfs
                       as /tmp and working directory, rlimits, unprivileged uid, no capabilities,
                       no_new_privs, Landlock; runs the program with the stdlib already imported

Z1 talks to the supervisor over its inherited stdin/stdout (length-prefixed JSON). After each
program it kills every process left in the namespace (``kill(-1)`` from PID 1 reaches only them),
so daemons, fork bombs and busy children die with the program. Without namespaces (weak mode)
the server runs in Z0 itself as a child subreaper.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import time
from typing import NamedTuple

import _collect  # type: ignore[import-not-found]
import _kernel as k  # type: ignore[import-not-found]
import _runtime  # type: ignore[import-not-found]


def main() -> None:
    config = json.loads(sys.argv[1])
    # the control pipes far above the fds a child sets up (0-5), so that none survives there
    conn = _Conn(
        fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 200), fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 200)
    )
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    for name in config.get("preload", ()):
        with contextlib.suppress(Exception):  # a module this interpreter lacks is not warm
            __import__(name)
    if config["isolate"]:
        _z0(conn, config)
    else:
        layers: dict[str, object] = {"namespaces": False}
        k.prctl(k.PR_SET_CHILD_SUBREAPER, 1)
        _Server(conn, config, layers, pid1=False).serve()


class _Conn:
    """Length-prefixed JSON over two pipe file descriptors."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd

    def send(self, message: dict[str, object]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode()
        _write_all(self.wfd, struct.pack(">I", len(data)) + data)

    def recv(self) -> dict[str, object]:
        (size,) = struct.unpack(">I", self._read(4))
        return dict(json.loads(self._read(size)))

    def _read(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = os.read(self.rfd, min(left, 1 << 20))
            if not chunk:
                os._exit(0)  # the supervisor went away
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _z0(conn: _Conn, config: dict[str, object]) -> None:
    supervisor = os.getppid()
    k.prctl(k.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor:
        os._exit(1)
    flags = k.CLONE_NEWUSER | k.CLONE_NEWNS | k.CLONE_NEWNET | k.CLONE_NEWIPC
    flags |= k.CLONE_NEWUTS | k.CLONE_NEWPID
    try:
        k.unshare(flags)
    except OSError as exc:
        conn.send({"op": "error", "stage": "unshare", "errno": exc.errno, "message": str(exc)})
        os._exit(2)
    conn.send({"op": "map"})
    if conn.recv().get("op") != "mapped":
        os._exit(2)
    # opened with the host identity: as root, the zygote uid may not traverse /root
    sources = _open_sources(list(config["ro_paths"]))  # type: ignore[call-overload]
    if config["uid_mode"] == "multi":
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    # a credential change clears the parent-death signal: set it again, and make sure the
    # supervisor did not die in between
    k.prctl(k.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor:
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        try:
            _z1(conn, config, sources)
        except BaseException as exc:
            try:
                conn.send({"op": "error", "stage": "setup", "message": f"{exc}"})
            finally:
                os._exit(3)
        os._exit(0)
    os.close(conn.rfd)
    os.close(conn.wfd)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0x7F)


def _z1(conn: _Conn, config: dict[str, object], sources: list[tuple[str, str, object]]) -> None:
    # Z0 is outside this PID namespace (getppid() is 0 here): should it die before the line
    # below, the supervisor still kills Z1 through its pidfd
    k.prctl(k.PR_SET_PDEATHSIG, signal.SIGKILL)
    layers: dict[str, object] = {"namespaces": True, "uid_mode": config["uid_mode"]}
    _build_root(sources, layers)
    socket.sethostname("sandbox")
    try:  # no nested user namespaces for the programs (less kernel surface)
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
        layers["nested_userns"] = False
    except OSError:
        layers["nested_userns"] = True
    k.prctl(k.PR_SET_DUMPABLE, 0)
    _Server(conn, config, layers, pid1=True).serve()


def _open_sources(ro_paths: list[str]) -> list[tuple[str, str, object]]:
    """(path, kind, fd or link target) for each path to expose, parents before children and
    paths below an exposed directory dropped."""
    found: list[tuple[str, str, object]] = []
    done: list[str] = []
    for path in sorted({os.path.normpath(p) for p in ro_paths}):
        if any(path == d or path.startswith(d.rstrip("/") + "/") for d in done):
            continue
        if os.path.islink(path) and os.path.dirname(path) == "/":
            found.append((path, "link", os.readlink(path)))  # merged /usr: /bin -> usr/bin
            continue
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        found.append((path, "dir" if os.path.isdir(path) else "file", fd))
        done.append(path)
    return found


def _build_root(sources: list[tuple[str, str, object]], layers: dict[str, object]) -> None:
    """Pivot into a new read-only root that holds only the ``sources``, a minimal /dev, a
    fresh /proc and an empty /tmp mount point."""
    k.mount(None, "/", None, k.MS_REC | k.MS_PRIVATE)
    k.mount("tmpfs", "/tmp", "tmpfs", k.MS_NOSUID | k.MS_NODEV, "size=1m,mode=0755")
    os.chdir("/tmp")
    os.mkdir("new")
    os.mkdir("old")
    k.pivot_root(".", "old")
    os.chdir("/")
    k.mount("tmpfs", "/new", "tmpfs", k.MS_NOSUID | k.MS_NODEV, "size=1m,mode=0755")
    done: list[str] = []
    for path, kind, handle in sources:
        target = "/new" + path
        if kind == "link":
            os.symlink(str(handle), target)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if kind == "dir":
            os.makedirs(target, exist_ok=True)
        else:
            open(target, "w").close()
        k.bind_readonly(f"/old/proc/self/fd/{handle}", target)
        os.close(int(handle))  # type: ignore[call-overload]
        done.append(path)
    os.mkdir("/new/dev")
    k.mount("tmpfs", "/new/dev", "tmpfs", k.MS_NOSUID, "size=64k,mode=0755")
    for name in ("null", "zero", "full", "random", "urandom"):
        open(f"/new/dev/{name}", "w").close()
        k.mount(f"/old/dev/{name}", f"/new/dev/{name}", None, k.MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("shm", "/tmp")):
        os.symlink(target, f"/new/dev/{name}")
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{number}", f"/new/dev/{name}")
    k.mount(None, "/new/dev", None, k.MS_REMOUNT | k.MS_BIND | k.MS_RDONLY | k.MS_NOSUID)
    os.mkdir("/new/proc")
    try:
        k.mount("proc", "/new/proc", "proc", k.MS_NOSUID | k.MS_NODEV | k.MS_NOEXEC)
        layers["proc"] = "private"
    except OSError:
        layers["proc"] = "none"  # a container that masks parts of /proc refuses a new one
    os.mkdir("/new/tmp")
    k.mount(None, "/new", None, k.MS_REMOUNT | k.MS_BIND | k.MS_RDONLY | k.MS_NOSUID | k.MS_NODEV)
    os.chdir("/new")
    k.pivot_root(".", ".")
    k.umount(".")
    os.chdir("/")
    layers["filesystem"] = "read-only root"
    layers["exposed"] = done


class _Server:
    """Run programs one at a time; each in a fresh child, everything it leaves killed."""

    def __init__(
        self, conn: _Conn, config: dict[str, object], layers: dict[str, object], *, pid1: bool
    ) -> None:
        self.conn, self.config, self.layers, self.pid1 = conn, config, layers, pid1
        self.workbase = None if pid1 else _weak_workbase()
        self.runs = 0
        self.codes: dict[int, object] = {}
        if config["uid_mode"] != "weak":  # once here rather than in every child
            k.drop_bounding_set()
        self.tmpfs_size = 0
        config["rulesets"] = [-1, -1]
        if pid1:  # one tmpfs as /tmp, emptied after every program
            self.mount_tmpfs(64 << 20)
            if config.get("landlock") and k.landlock_abi():
                config["rulesets"] = _runtime.rulesets("/tmp")
            os.environ.clear()
            os.environ.update(_runtime.SAFE_ENV, HOME="/tmp", TMPDIR="/tmp")

    def mount_tmpfs(self, size: int) -> None:
        uid = self.config["child_uid"]
        options = f"size={size},nr_inodes=4096,mode=0700,uid={uid},gid={uid}"
        flags = k.MS_NOSUID | k.MS_NODEV
        if self.tmpfs_size:
            k.mount(None, "/tmp", None, flags | k.MS_REMOUNT, options)
        else:
            k.mount("tmpfs", "/tmp", "tmpfs", flags, options)
        self.tmpfs_size = size

    def empty_tmpfs(self) -> bool:
        """Remove everything the program left in /tmp (its processes are all dead); False when
        something stayed (the worker is then replaced)."""
        try:
            for entry in os.listdir("/tmp"):
                path = os.path.join("/tmp", entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    _rmtree(path)
                else:
                    os.unlink(path)
            return not os.listdir("/tmp")
        except (OSError, RecursionError):
            return False

    def serve(self) -> None:
        self.layers["landlock_abi"] = k.landlock_abi() if self.config.get("landlock") else 0
        import gc

        _runtime.STDIO[:] = _runtime.stdio()
        gc.collect()
        gc.freeze()  # the warm objects stay out of the children's collections (no copy-on-write)
        self.conn.send({"op": "ready", "layers": self.layers})
        while True:
            pending = self.prefork()  # forked and confined while the next request travels
            request = self.conn.recv()
            if request.get("op") == "run":
                self.conn.send(self.run(request, pending))
                continue
            self.kill_all(pending.pid)
            if request.get("op") == "ping":
                self.conn.send({"op": "pong"})
                continue
            if self.workbase:
                _rmtree(self.workbase)
            os._exit(0)

    def prefork(self) -> _Pending:
        """The child for the next program: forked, confined, waiting for its request."""
        self.runs += 1
        keybox = [os.urandom(32)]
        pipes = [os.pipe() for _ in range(4)]  # stdin, stdout, stderr, report
        workdir = "/tmp"
        if self.workbase:
            workdir = os.path.join(self.workbase, f"run-{self.runs}")
            os.mkdir(workdir, 0o700)
            uid = self.config.get("child_uid")
            if isinstance(uid, int):
                os.chown(workdir, uid, uid)
        pid = os.fork()
        if pid == 0:
            _runtime.child(self.config, keybox, pipes, workdir, self.pid1, self.codes)
        (in_r, in_w), (out_r, out_w), (err_r, err_w), (rep_r, rep_w) = pipes
        for fd in (in_r, out_w, err_w, rep_w):
            os.close(fd)
        return _Pending(pid, keybox[0], in_w, out_r, err_r, rep_r, workdir)

    def run(self, request: dict[str, object], child: _Pending) -> dict[str, object]:
        limits: dict[str, float] = request["limits"]  # type: ignore[assignment]
        code_id = request.get("code_id")
        if isinstance(code_id, int) and code_id not in self.codes:
            # teachkit's own program (the harness), compiled once for the children to come
            self.codes[code_id] = compile(str(request["source"]), str(request["filename"]), "exec")
        if self.pid1 and int(limits["tmpfs"]) != self.tmpfs_size:
            self.mount_tmpfs(int(limits["tmpfs"]))
        header = json.dumps({k: v for k, v in request.items() if k != "stdin"}).encode()
        stdin = struct.pack(">I", len(header)) + header
        stdin += base64.b64decode(str(request.get("stdin", "")))
        pid = child.pid
        started = time.monotonic()
        collector = _collect.Collector(child.key, child.out, child.err, child.rep, limits)
        exited, limit = collector.wait(pid, child.in_w, stdin, started + float(limits["wall"]))
        if not exited:  # stop the program now; its status is read before the rest is reaped
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1 if self.pid1 else pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - started
        leftover = self.kill_all(pid)
        collector.drain()
        if self.workbase:
            _rmtree(child.workdir)
        result: dict[str, object] = collector.result()
        result["clean"] = self.empty_tmpfs() if self.pid1 else not os.path.exists(child.workdir)
        result.update(
            op="result",
            exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            max_rss_kb=usage.ru_maxrss,
            leftover=leftover,
        )
        result["limit"] = limit or _collect.limit_from_status(status, result)
        return result

    def kill_all(self, pid: int) -> int:
        """Kill every process the program left (after the main child is waited for, these are
        daemons and stray children); return how many were reaped."""
        reaped = 0
        if self.pid1:
            while True:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)  # PID 1 of our namespace: only the program's
                try:
                    found, _ = os.waitpid(-1, os.WNOHANG if reaped > 10000 else 0)
                except ChildProcessError:
                    return reaped
                if found != pid:
                    reaped += 1
        return int(_collect.kill_weak(pid, self.config))


class _Pending(NamedTuple):
    """A forked child waiting for its program, and the zygote's ends of its pipes."""

    pid: int
    key: bytes
    in_w: int
    out: int
    err: int
    rep: int
    workdir: str


def _weak_workbase() -> str:
    import tempfile

    base = tempfile.mkdtemp(prefix="teachkit-sandbox-")
    os.chmod(base, 0o711)
    return base


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
