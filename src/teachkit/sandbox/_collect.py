"""After a program: its output and report frames read within their caps, what it left killed.

Standard library only (loaded by the zygote interpreter).
"""

from __future__ import annotations

import _hashlib  # type: ignore[import-not-found]
import base64
import contextlib
import fcntl
import os
import select
import signal
import struct
import time

MAC_SIZE = 32

_F_SETPIPE_SZ = 1031


class Collector:
    """Read a child's stdout, stderr and report channel, within their caps."""

    def __init__(self, key: bytes, out: int, err: int, rep: int, limits: dict[str, float]) -> None:
        self.key, self.out, self.err, self.rep = key, out, err, rep
        self.caps = {out: int(limits["output"]), err: int(limits["output"]), rep: 1 << 20}
        self.data = {out: bytearray(), err: bytearray(), rep: bytearray()}
        self.over = {out: False, err: False, rep: False}

    def wait(self, pid: int, in_w: int, stdin: bytes, deadline: float) -> tuple[bool, str | None]:
        """Until the child exits, the deadline passes or its output goes over the cap. The
        report pipe is made as large as its cap and read afterwards, so frames written during
        the run wake nobody (on a loaded machine every wake-up costs)."""
        poller = select.poll()
        watched = [self.out, self.err]
        try:
            fcntl.fcntl(self.rep, _F_SETPIPE_SZ, self.caps[self.rep])
        except OSError:
            watched.append(self.rep)
        for fd in watched:
            poller.register(fd, select.POLLIN)
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except OSError:
            pidfd = None
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        pending = memoryview(stdin)
        os.set_blocking(in_w, False)
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            pending = pending[os.write(in_w, pending[: 1 << 16]) :] if pending else pending
        if pending:
            poller.register(in_w, select.POLLOUT)
        else:
            os.close(in_w)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, "timeout"
                wait = left if pidfd is not None else min(left, 0.01)
                for fd, _event in poller.poll(wait * 1000):
                    if fd == pidfd:
                        return True, None
                    if fd == in_w:
                        try:
                            pending = pending[os.write(in_w, pending[: 1 << 16]) :]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:  # the program closed its stdin
                            pending = pending[:0]
                        if not pending:
                            poller.unregister(in_w)
                            os.close(in_w)
                        continue
                    if not self._read(fd):
                        poller.unregister(fd)
                    if self.over[self.out] or self.over[self.err]:
                        return False, "output"
                if pidfd is None and os.waitpid(pid, os.WNOHANG | os.WNOWAIT)[0]:
                    return True, None
        finally:
            if pidfd is not None:
                os.close(pidfd)
            if pending:
                os.close(in_w)

    def _read(self, fd: int, *, drain: bool = False) -> bool:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return not drain
        if not chunk:
            return False
        room = self.caps[fd] - len(self.data[fd])
        self.data[fd] += chunk[: max(room, 0)]
        if len(chunk) > room:
            self.over[fd] = True
        return True

    def drain(self) -> None:
        """Read what is left; every writer is dead by now, so each pipe ends in EOF."""
        for fd in (self.out, self.err, self.rep):
            os.set_blocking(fd, False)
            while self._read(fd, drain=True):
                pass
            os.close(fd)

    def result(self) -> dict[str, object]:
        messages, finished, forged, exception, setup = parse_frames(
            bytes(self.data[self.rep]), self.key
        )
        return {
            "stdout": base64.b64encode(bytes(self.data[self.out])).decode(),
            "stderr": base64.b64encode(bytes(self.data[self.err])).decode(),
            "stdout_truncated": self.over[self.out],
            "stderr_truncated": self.over[self.err],
            "messages": [base64.b64encode(m).decode() for m in messages],
            "finished": finished,
            "forged": forged,
            "exception": exception,
            "setup_error": setup,
        }


def limit_from_status(status: int, result: dict[str, object]) -> str | None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "cpu"
        if sig == signal.SIGXFSZ:
            return "file_size"
    if result.get("exception") == "MemoryError":
        return "memory"
    return None


def parse_frames(data: bytes, key: bytes) -> tuple[list[bytes], bool, int, str | None, str | None]:
    """Split the report channel's bytes: authenticated messages, whether a valid end marker
    arrived, how many frames failed authentication, the uncaught exception type, setup error."""
    messages: list[bytes] = []
    finished, forged, exception, setup = False, 0, None, None
    seq, at = 0, 0
    while at + 5 <= len(data):
        kind, size = struct.unpack(">cI", data[at : at + 5])
        body_end = at + 5 + size
        if kind in (b"X", b"S"):
            text = data[at + 5 : body_end].decode("utf-8", "replace")[:500]
            if kind == b"X":
                exception = text
            else:
                setup = text
            at = body_end
            continue
        if body_end + MAC_SIZE > len(data) or kind not in (b"M", b"E"):
            forged += 1
            break
        body = data[at:body_end]
        expected = _hashlib.hmac_digest(key, struct.pack(">Q", seq + 1) + body, "sha256")
        if expected != data[body_end : body_end + MAC_SIZE] or finished:
            forged += 1
        else:
            seq += 1
            if kind == b"E":
                finished = True
            messages.append(data[at + 5 : body_end])
        at = body_end + MAC_SIZE
    return messages, finished, forged, exception, setup


def kill_weak(pid: int, config: dict[str, object]) -> int:
    """Without a PID namespace: kill what the program left. As root, a killer process with the
    worker's own unprivileged uid sends kill(-1), which reaches that uid's processes only; else
    the process tree below this subreaper is walked."""
    import time

    uid = config.get("child_uid")
    reaped = 0
    for _ in range(200):
        if isinstance(uid, int) and uid > 0:
            killer = os.fork()
            if killer == 0:
                try:
                    os.setgroups([])
                    os.setresgid(uid, uid, uid)
                    os.setresuid(uid, uid, uid)
                    if os.getresuid() == (uid, uid, uid):
                        os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
        else:
            for child_pid in _descendants(os.getpid()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child_pid, signal.SIGKILL)
        found_any = False
        while True:
            try:
                found, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return reaped
            if not found:
                break
            found_any = True
            if found != pid:
                reaped += 1
        if not found_any:
            time.sleep(0.005)
    return reaped


def _descendants(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found
