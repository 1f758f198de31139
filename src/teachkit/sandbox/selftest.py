"""A short self-test of the sandbox on this machine (``teachkit sandbox check``).

Each check runs a real program in the pool and looks at the host afterwards: a TCP server on
127.0.0.1 that must see no connection, a host file that must stay byte-identical, the processes
the program can see, the environment it gets, and the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from teachkit.sandbox.limits import Limits, Program
from teachkit.sandbox.pool import SandboxPool

__all__ = ["Check", "self_test"]

_ALLOWED_ENV = {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


async def self_test(pool: SandboxPool) -> list[Check]:
    """Run every check (the process-limit check only where a PID namespace and RLIMIT_NPROC
    are confirmed, since a fork storm outside them would reach the host)."""
    report = await pool.start()
    checks = [
        await _network(pool),
        await _host_file(pool),
        await _processes_visible(pool, strong=report.strong),
        await _environment(pool),
        await _memory(pool),
        await _timeout(pool),
    ]
    if report.strong and "processes" in report.layers.get("rlimits", ""):
        checks.append(await _process_limit(pool))
    else:
        checks.append(Check("process limit", False, "skipped: no PID namespace here"))
    return checks


async def _network(pool: SandboxPool) -> Check:
    connections: list[bool] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(True)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    source = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('refused', type(exc).__name__, exc.errno)\n"
    )
    try:
        result = await pool.run(Program(source), Limits(wall=5))
    finally:
        server.close()
        await server.wait_closed()
    said = result.stdout.decode(errors="replace").strip()
    ok = said.startswith("refused") and not connections
    return Check("network refused", ok, f"127.0.0.1:{port} from the sandbox: {said}")


async def _host_file(pool: SandboxPool) -> Check:
    with tempfile.TemporaryDirectory(prefix="teachkit-check-") as folder:
        target = Path(folder) / "cache.sqlite"
        target.write_bytes(b"host data\n")
        os.chmod(folder, 0o777)
        os.chmod(target, 0o666)  # writable by anyone: only the sandbox may stop the write
        probes = [str(target), "/etc/teachkit-probe", "/usr/teachkit-probe", "/teachkit-probe"]
        source = (
            "import os\nblocked = 0\n"
            f"for path in {probes!r}:\n"
            "    try:\n"
            "        with open(path, 'w') as f:\n"
            "            f.write('sandbox was here')\n"
            "    except OSError:\n"
            "        blocked += 1\n"
            f"try:\n    os.remove({str(target)!r})\nexcept OSError:\n    blocked += 1\n"
            "print(blocked)\n"
        )
        result = await pool.run(Program(source), Limits(wall=5))
        intact = target.read_bytes() == b"host data\n"
        created = [p for p in probes[1:] if os.path.exists(p)]
        for path in created:
            with contextlib.suppress(OSError):
                os.remove(path)
    said = result.stdout.decode(errors="replace").strip()
    ok = intact and not created and said == str(len(probes) + 1)
    detail = f"{said} of {len(probes) + 1} writes refused; host file intact: {intact}"
    return Check("host files unwritable", ok, detail)


async def _processes_visible(pool: SandboxPool, *, strong: bool) -> Check:
    source = (
        "import os\n"
        "try:\n    seen = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "except OSError:\n    seen = []\n"
        "print(os.getpid(), len(seen))\n"
    )
    result = await pool.run(Program(source), Limits(wall=5))
    pid, seen = [*result.stdout.decode().split(), "?", "?"][:2]
    ok = strong and pid.isdigit() and int(pid) <= 4 and seen.isdigit() and int(seen) <= 3
    return Check("own PID namespace", ok, f"the program is pid {pid} and sees {seen} processes")


async def _environment(pool: SandboxPool) -> Check:
    result = await pool.run(Program("import os\nprint(' '.join(sorted(os.environ)))"))
    names = set(result.stdout.decode().split())
    ok = result.ok and names <= _ALLOWED_ENV
    return Check("environment scrubbed", ok, "variables: " + " ".join(sorted(names)))


async def _memory(pool: SandboxPool) -> Check:
    limits = Limits(wall=10, memory=256 * 1024 * 1024)
    result = await pool.run(Program("x = bytearray(1024 * 1024 * 1024)"), limits)
    ok = result.limit == "memory"
    return Check("memory limit", ok, f"1 GiB under a 256 MiB limit: {result.exception}")


async def _timeout(pool: SandboxPool) -> Check:
    # the CPU limit is set well above the wall limit so the wall clock, not the race between the
    # two, is what stops the loop
    result = await pool.run(Program("while True:\n    pass"), Limits(wall=1, cpu=30))
    ok = result.limit == "timeout" and result.wall < 3
    return Check("time limit", ok, f"an endless loop stopped after {result.wall:.2f} s")


async def _process_limit(pool: SandboxPool) -> Check:
    source = (
        "import os, time\nmade = 0\n"
        "try:\n"
        "    for _ in range(64):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        made += 1\n"
        "except OSError:\n    pass\n"
        "print(made)\n"
    )
    result = await pool.run(Program(source), Limits(wall=10, processes=8))
    said = result.stdout.decode().strip()
    ok = said.isdigit() and int(said) < 8 and result.leftover >= 1
    detail = f"{said} forks under a limit of 8 processes; {result.leftover} killed afterwards"
    return Check("process limit", ok, detail)
