"""What runs in the forked child: confinement, then the program; and the report channel.

Standard library only (loaded by the zygote interpreter). The report channel is a pipe on fd 3.
A program that wants to report authenticated results (the test harness) calls, before running
anything untrusted::

    import _teachkit_channel
    send = _teachkit_channel.take()   # once; the module then leaves sys.modules
    ...
    send(b"M", payload)               # a message
    send(b"E", payload)               # the end marker: "everything ran"

Each frame carries an HMAC-SHA256 under a per-run random key that only the zygote and this
child know, with a sequence number, so bytes written to fd 3 by other code are rejected. Taking
the channel also *seals* the process: an audit hook refuses frame, gc and ctypes introspection
and a second Landlock layer hides /proc, so code that runs later cannot easily find the key.
"""

from __future__ import annotations

import _hashlib  # type: ignore[import-not-found]
import atexit
import base64
import builtins
import contextlib
import fcntl
import io
import json
import os
import resource
import signal
import struct
import sys
import types

import _kernel as k  # type: ignore[import-not-found]

REPORT_FD, BASE_FD, SEAL_FD = 3, 4, 5  # the report pipe, the prepared Landlock rulesets
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def child(
    config: dict[str, object],
    keybox: list[bytes],
    pipes: list[tuple[int, int]],
    workdir: str,
    pid1: bool,
    codes: dict[int, object],
) -> None:
    """Confine this freshly forked process, wait for its program, run it; never returns.

    The zygote forks the child for the next program as soon as the last one is done, so the
    fork and most of the confinement happen while teachkit sends the next request. The request
    arrives first on stdin (a length-prefixed JSON header), the program's stdin after it.
    """
    report = pipes[3][1]
    try:
        _confine(config, pipes, workdir, pid1)
        report = REPORT_FD
        request = _read_request()
        _apply(request, config)
    except BaseException as exc:
        _raw_frame(report, b"S", f"{type(exc).__name__}: {exc}".encode())
        os._exit(125)
    code_id = request.get("code_id")
    compiled = codes.get(code_id) if isinstance(code_id, int) else None
    _run(request, compiled, keybox, workdir, bool(config.get("landlock")))


def _read_request() -> dict[str, object]:
    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = os.read(0, size - len(data))
            if not chunk:
                os._exit(0)  # the worker is closing: no program for this child
            data += chunk
        return data

    (size,) = struct.unpack(">I", exactly(4))
    return dict(json.loads(exactly(size)))


def _apply(request: dict[str, object], config: dict[str, object]) -> None:
    """The request's own limits and files (the rest of the confinement is done already)."""
    limits: dict[str, float] = request["limits"]  # type: ignore[assignment]
    cpu = max(1, int(-(-float(limits["cpu"]) // 1)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (int(limits["memory"]),) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limits["file_size"]),) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["open_files"]),) * 2)
    if config.get("limit_processes"):
        extra = 2 if config["uid_mode"] == "single" else 0  # Z0 and Z1 share that uid
        resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["processes"]) + extra,) * 2)
    files: dict[str, str] = request.get("files") or {}  # type: ignore[assignment]
    for name, data in files.items():
        parts = name.split("/")
        if name.startswith("/") or ".." in parts:
            raise ValueError(f"file name {name!r} leaves the working directory")
        if len(parts) > 1:
            os.makedirs(os.path.join(*parts[:-1]), exist_ok=True)
        with open(name, "wb") as f:
            f.write(base64.b64decode(data))


def _confine(
    config: dict[str, object],
    pipes: list[tuple[int, int]],
    workdir: str,
    pid1: bool,
) -> None:
    rulesets: list[int] = config["rulesets"]  # type: ignore[assignment]
    ends = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1], *rulesets]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) if fd >= 0 else -1 for fd in ends]
    for number, fd in enumerate(high):
        if fd >= 0:
            os.dup2(fd, number, inheritable=number <= 2)
        else:
            with contextlib.suppress(OSError):
                os.close(number)  # no ruleset: nothing of the zygote's may stay on this fd
    os.closerange(SEAL_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.setsid()
    parent = os.getppid()
    mode = str(config["uid_mode"])
    uid = config.get("child_uid")
    os.chdir(workdir)
    # the OOM killer takes the program before its zygote
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as adj:
        adj.write("1000")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if mode in ("multi", "weak-root"):
        assert isinstance(uid, int) and uid > 0
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid, uid, uid) or os.getgroups():
            raise OSError("the uid switch did not take effect")
    if mode != "multi":  # in multi mode the switch away from uid 0 has emptied them already
        k.drop_capabilities()
    k.prctl(k.PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid switch, which clears it
    if os.getppid() != parent:
        os._exit(125)
    k.prctl(k.PR_SET_NO_NEW_PRIVS, 1)
    if rulesets[0] >= 0:
        k.landlock_enforce(BASE_FD)
        os.close(BASE_FD)
    elif config.get("landlock"):  # the weak mode: a working directory of its own per run
        k.landlock_restrict([workdir, "/dev/null"], ["/"])
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # past the file size limit: killed
    if os.environ.get("HOME") != workdir:
        os.environ.clear()
        os.environ.update(SAFE_ENV, HOME=workdir, TMPDIR=workdir)


def _run(
    request: dict[str, object],
    compiled: object,
    keybox: list[bytes],
    workdir: str,
    landlock: bool,
) -> None:
    sealed: list[bool] = []
    stdin, stdout, stderr = STDIO or stdio()
    sys.stdin = sys.__stdin__ = stdin  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = stdout  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = stderr  # type: ignore[misc]
    filename = str(request.get("filename") or "<program>")
    sys.argv = [filename, *[str(a) for a in request.get("argv") or ()]]  # type: ignore[attr-defined]
    sys.modules["_teachkit_channel"] = _channel_module(keybox, sealed, workdir, landlock)
    with contextlib.suppress(OSError):  # the seal ruleset stays open only for take()
        os.set_inheritable(SEAL_FD, False)
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    code = 0
    try:
        compiled = compiled or compile(str(request["source"]), filename, "exec")
        exec(compiled, main.__dict__)  # type: ignore[arg-type]
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:
        code = 1
        _raw_frame(REPORT_FD, b"X", type(exc).__name__.encode())
        try:
            if sealed:  # a traceback would need frame access, which the seal refuses
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            else:
                import traceback

                traceback.print_exception(exc)
        except BaseException:
            pass
    _finish(code)


def stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    """Fresh text streams on fds 0, 1 and 2 (unused: the zygote builds them once, and each
    child, whose pipes are on those fds by then, gets an untouched copy)."""
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), "utf-8")
    return stdin, _text_out(1, line_buffering=False), _text_out(2, line_buffering=True)


STDIO: list[io.TextIOWrapper] = []


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    with contextlib.suppress(BaseException):
        print(exc.code, file=sys.stderr)
    return 1


def _finish(code: int) -> None:
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def _text_out(fd: int, *, line_buffering: bool) -> io.TextIOWrapper:
    raw = io.BufferedWriter(io.FileIO(fd, "w", closefd=False))
    return io.TextIOWrapper(
        raw, encoding="utf-8", errors="backslashreplace", line_buffering=line_buffering
    )


def _raw_frame(fd: int, kind: bytes, payload: bytes) -> None:
    try:
        data = struct.pack(">cI", kind, len(payload)) + payload
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass


def _channel_module(
    keybox: list[bytes], sealed: list[bool], workdir: str, landlock: bool
) -> types.ModuleType:
    module = types.ModuleType("_teachkit_channel")
    taken: list[bool] = []

    def take(*, seal: bool = True):  # type: ignore[no-untyped-def]
        """The send(kind, payload) function of this run's report channel (once)."""
        if taken or not keybox:
            raise RuntimeError("the report channel was already taken")
        taken.append(True)
        sys.modules.pop("_teachkit_channel", None)
        send = _sender(keybox.pop())
        if seal:
            _seal(workdir, landlock)
            sealed.append(True)
        return send

    module.take = take  # type: ignore[attr-defined]
    return module


def _sender(key: bytes):  # type: ignore[no-untyped-def]
    """A closure holding the key; every helper it calls is captured now, so code that later
    replaces module attributes cannot intercept the key or the messages."""
    seq = [0]
    write, pack, mac = os.write, struct.pack, _hashlib.hmac_digest

    def send(kind: bytes, payload: bytes) -> None:
        seq[0] += 1
        body = pack(">cI", kind, payload.__len__()) + payload
        view = memoryview(body + mac(key, pack(">Q", seq[0]) + body, "sha256"))
        while view:
            view = view[write(REPORT_FD, view) :]

    return send


_BLOCKED = frozenset(
    {
        "sys._getframe",
        "sys._current_frames",
        "sys.settrace",
        "sys.setprofile",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
    }
)
_FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})


def _seal(workdir: str, landlock: bool) -> None:
    def hook(
        event: str,
        args: tuple[object, ...],
        _blocked: frozenset[str] = _BLOCKED,
        _frames: frozenset[str] = _FRAME_ATTRS,
        _error: type[Exception] = PermissionError,
    ) -> None:
        if (
            event in _blocked
            or event.startswith("ctypes.")
            or (event == "object.__getattr__" and args[1:2] and args[1] in _frames)
        ):
            raise _error(f"{event} is not allowed in the sandbox")

    if landlock and k.landlock_abi():  # a second layer: /proc (so /proc/self/mem) unreadable
        try:  # prepared by the zygote (namespaces), else built now (weak mode)
            k.landlock_enforce(SEAL_FD)
            os.close(SEAL_FD)
        except OSError:
            k.landlock_restrict(*_seal_paths(workdir))
    import _signal  # type: ignore[import-not-found]

    original = _signal.signal  # signal.signal calls this one, looked up at each call

    def no_frame_signal(signalnum, handler):  # type: ignore[no-untyped-def]
        """Signal handlers get None for the frame (a frame would lead to the harness)."""
        if callable(handler):
            inner = handler

            def handler(number, frame, _inner=inner):  # type: ignore[no-untyped-def]
                return _inner(number, None)

        return original(signalnum, handler)

    _signal.signal = no_frame_signal
    k.prctl(k.PR_SET_DUMPABLE, 0)  # no ptrace or /proc/<pid>/mem from programs it starts
    sys.addaudithook(hook)  # last: the calls above go through ctypes


def rulesets(workdir: str) -> list[int]:
    """With namespaces: the Landlock rulesets every child enforces (base) and a harness adds
    when it seals itself, built once by the zygote after the working tmpfs is mounted (rules
    on a directory that a later mount hides would not apply)."""
    return [
        int(k.landlock_ruleset([workdir, "/dev/null"], ["/"])),
        int(k.landlock_ruleset(*_seal_paths(workdir))),
    ]


def _seal_paths(workdir: str) -> tuple[list[str], list[str]]:
    readable = [os.path.join("/", n) for n in os.listdir("/") if n not in ("proc", "sys")]
    return [workdir, "/dev/null"], readable
