"""One warm sandbox worker: the zygote that forks a child per program, and its protocol."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import struct
from pathlib import Path
from typing import Any

from teachkit.errors import SandboxError
from teachkit.sandbox.cgroup import Cgroup, budget
from teachkit.sandbox.config import IdMapping, SandboxConfig
from teachkit.sandbox.limits import Limits, Program, RunResult

__all__ = []

log = logging.getLogger("teachkit")

_HERE = Path(__file__).resolve().parent
_BOOT = (
    "import sys; sys.path.insert(0, {here!r}); import _zygote; "
    "sys.path.remove({here!r}); _zygote.main()"
)
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
#: seconds a zygote may take beyond a program's wall limit to report and clean up
_GRACE = 5.0


def _weak_message(reason: str) -> str:
    from teachkit.sandbox.config import weak_hints

    return (
        f"The sandbox cannot isolate programs on this machine ({reason}), so code verification "
        "will not run untrusted code. To get the namespace layers, "
        + "; or ".join(weak_hints())
        + ". To run with rlimits, a uid switch and Landlock only, set allow_weak_sandbox: true "
        "on the recipe's verify filter (see docs/sandbox.md)."
    )


class _NoNamespaces(Exception):
    pass


class _Worker:
    """One zygote process tree, driven over its stdin/stdout."""

    def __init__(self, config: SandboxConfig, mapping: IdMapping, limits: Limits) -> None:
        self.config, self.mapping = config, mapping
        self.cgroup: Cgroup | None = None
        self._limits = limits
        self._code_ids: dict[str, int] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.z1_pidfd: int | None = None
        self.alive = False
        self.runs = 0
        self.limit_processes = mapping.mode != "weak"
        self._stderr_task: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, Any]:
        isolate = self.mapping.mode in ("multi", "single")
        weak_uid = self.mapping.child if self.mapping.mode == "weak-root" else None
        boot = {
            "isolate": isolate,
            "uid_mode": self.mapping.mode,
            # the program's uid: inside the user namespace, or on the host in the weak mode
            "child_uid": 1000 if isolate else weak_uid,
            "limit_processes": self.limit_processes,
            "ro_paths": self.config.readonly_paths(),
            "preload": list(self.config.preload),
            "landlock": self.config.landlock,
        }
        self.proc = await asyncio.create_subprocess_exec(
            self.config.python,
            "-I",
            "-B",
            "-c",
            _BOOT.format(here=str(_HERE)),
            json.dumps(boot),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_ENV,
            cwd="/",
            start_new_session=True,
        )
        self._stderr_task = asyncio.create_task(self._log_stderr())
        if self.config.cgroup:
            self._join_cgroup(self.proc.pid)
        try:
            found = await asyncio.wait_for(self._handshake(isolate), self.config.start_timeout)
            found["cgroup"] = self.cgroup.version if self.cgroup else 0
            return found
        except TimeoutError:
            raise SandboxError(
                f"A sandbox worker did not start within {self.config.start_timeout:g} s. "
                "The machine may be overloaded; run `teachkit sandbox check` to test it."
            ) from None

    async def _handshake(self, isolate: bool) -> dict[str, Any]:
        assert self.proc is not None
        message = await self._recv()
        if message.get("op") == "error" and message.get("stage") == "unshare":
            raise _NoNamespaces(str(message.get("message")))
        if isolate:
            if message.get("op") != "map":
                raise SandboxError(f"A sandbox worker failed to start: {message}.")
            self._write_maps(self.proc.pid)
            await self._send({"op": "mapped"})
            message = await self._recv()
        if message.get("op") != "ready":
            raise SandboxError(
                f"A sandbox worker failed to set up its isolation: {message.get('message')}. "
                "Run `teachkit sandbox check` for details.",
                stage=message.get("stage"),
            )
        if isolate:
            self.z1_pidfd = _open_z1(self.proc.pid)
        self.alive = True
        layers: dict[str, Any] = dict(message.get("layers") or {})
        return layers

    def _join_cgroup(self, pid: int) -> None:
        """Z0 waits for its uid map (or its first program) before it forks: everything of the
        worker starts inside the cgroup."""
        group = Cgroup.create(f"{os.getpid()}-{self.mapping.zygote}-{pid}")
        if group is None:
            return
        try:
            group.limit(*budget(self._limits.memory, self._limits.tmpfs, self._limits.processes))
            group.add(pid)
        except OSError as exc:
            log.info("sandbox: cgroup %s unusable (%s); going without", group.memory, exc)
            group.remove()
            return
        self.cgroup = group

    def _write_maps(self, pid: int) -> None:
        uid_map, gid_map, setgroups = self.mapping.maps()
        try:
            if setgroups is not None:
                _write_proc(f"/proc/{pid}/setgroups", setgroups)
            _write_proc(f"/proc/{pid}/uid_map", uid_map)
            _write_proc(f"/proc/{pid}/gid_map", gid_map)
        except OSError as exc:
            raise _NoNamespaces(f"cannot write the uid map: {exc}") from None

    async def run(self, program: Program, limits: Limits) -> RunResult:
        self.runs += 1
        request: dict[str, Any] = {
            "op": "run",
            "source": program.source,
            "filename": program.filename,
            "stdin": base64.b64encode(program.stdin).decode(),
            "files": {k: base64.b64encode(v).decode() for k, v in program.files.items()},
            "argv": list(program.argv),
            "limits": limits.as_request(),
        }
        if program.cache_code:  # compiled once by the worker; its text is sent once
            code_id = self._code_ids.get(program.source)
            if code_id is None and len(self._code_ids) < 8:
                code_id = self._code_ids[program.source] = len(self._code_ids) + 1
            elif code_id is not None:
                request["source"] = ""
            request["code_id"] = code_id
        oom_before = 0
        if self.cgroup is not None:
            self.cgroup.limit(*budget(limits.memory, limits.tmpfs, limits.processes))
            oom_before = self.cgroup.oom_kills()
        try:
            await self._send(request)
            reply = await asyncio.wait_for(self._recv(), limits.wall + _GRACE)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            log.warning("sandbox: a worker stopped answering (%s); replacing it", exc)
            self.alive = False
            return RunResult(None, None, b"", b"", limits.wall, 0.0, limit="timeout")
        if reply.get("setup_error"):
            self.alive = False
            raise SandboxError(
                f"The sandbox could not confine a program: {reply['setup_error']}. "
                "Run `teachkit sandbox check` for details."
            )
        if self.cgroup is not None and self.cgroup.oom_kills() > oom_before:
            reply["limit"] = "memory"  # the program's processes together went over the budget
        return _result(reply)

    async def close(self, *, graceful: bool) -> None:
        proc, self.alive = self.proc, False
        if proc is None:
            return
        if graceful and proc.returncode is None:
            with contextlib.suppress(Exception):
                await self._send({"op": "exit"})
                await asyncio.wait_for(proc.wait(), 2.0)
        if proc.returncode is None and self.z1_pidfd is not None:
            # Z1 first, so that Z0 reaps it and then exits: killing Z0 first would leave Z1 a
            # zombie of whatever init the machine has (some containers' never reaps)
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.z1_pidfd, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2.0)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        if self.z1_pidfd is not None:
            await _wait_pidfd(self.z1_pidfd)
            self.z1_pidfd = None
        if self._stderr_task is not None:
            await self._stderr_task
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        data = json.dumps(message).encode()
        self.proc.stdin.write(struct.pack(">I", len(data)) + data)
        await self.proc.stdin.drain()

    async def _recv(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        (size,) = struct.unpack(">I", await self.proc.stdout.readexactly(4))
        if size > 64 << 20:
            raise ValueError("oversized message from a sandbox worker")
        message: dict[str, Any] = json.loads(await self.proc.stdout.readexactly(size))
        return message

    async def _log_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            log.debug("sandbox worker: %s", line[:500].decode("utf-8", "replace").rstrip())


def _result(reply: dict[str, Any]) -> RunResult:
    def raw(name: str) -> bytes:
        return base64.b64decode(reply.get(name) or "")

    return RunResult(
        exit_code=reply.get("exit_code"),
        signal=reply.get("signal"),
        stdout=raw("stdout"),
        stderr=raw("stderr"),
        wall=float(reply.get("wall") or 0.0),
        cpu=float(reply.get("cpu") or 0.0),
        limit=reply.get("limit"),
        stdout_truncated=bool(reply.get("stdout_truncated")),
        stderr_truncated=bool(reply.get("stderr_truncated")),
        max_rss_kb=int(reply.get("max_rss_kb") or 0),
        messages=tuple(base64.b64decode(m) for m in reply.get("messages") or ()),
        finished=bool(reply.get("finished")),
        forged=int(reply.get("forged") or 0),
        exception=reply.get("exception"),
        leftover=int(reply.get("leftover") or 0),
        clean=bool(reply.get("clean", True)),
    )


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())  # one write: the kernel takes a map in a single call
    finally:
        os.close(fd)


def _open_z1(z0: int) -> int | None:
    """A pidfd on Z1 (Z0's only child), so closing can wait until the namespace is gone."""
    try:
        children = Path(f"/proc/{z0}/task/{z0}/children").read_text().split()
        return os.pidfd_open(int(children[0])) if children else None
    except (OSError, ValueError):
        return None


async def _wait_pidfd(fd: int) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(done, 10.0)
    except TimeoutError:
        log.warning("sandbox: a zygote took more than 10 s to exit")
    finally:
        loop.remove_reader(fd)
        os.close(fd)
