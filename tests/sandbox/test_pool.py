"""The pool runs real programs in real sandboxed children."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from teachkit.errors import SandboxError
from teachkit.sandbox import Limits, Program, SandboxConfig, SandboxPool


async def test_runs_a_program_and_captures_its_output(pool: SandboxPool) -> None:
    program = Program(
        "import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\n"
        "print(open('data.txt').read(), file=sys.stderr)\nsys.exit(3)",
        stdin=b"hello",
        files={"data.txt": b"from a file"},
        argv=("a", "b"),
    )
    result = await pool.run(program)
    assert result.stdout == b"HELLO ['a', 'b']\n"
    assert result.stderr == b"from a file\n"
    assert result.exit_code == 3 and result.signal is None and result.limit is None
    assert result.wall > 0 and not result.ok


async def test_uncaught_exception_and_signal(pool: SandboxPool) -> None:
    raised = await pool.run(Program("raise KeyError('missing')"))
    assert raised.exit_code == 1 and raised.exception == "KeyError"
    assert b"KeyError: 'missing'" in raised.stderr
    killed = await pool.run(Program("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"))
    assert killed.signal == 15 and killed.exit_code is None


async def test_layers_are_reported(pool: SandboxPool) -> None:
    report = await pool.start()
    assert "rlimits" in report.layers and "environment" in report.layers
    if report.strong:
        assert report.mode == "namespaces" and "network" in report.layers
        assert not report.missing or report.missing == ("Landlock",)
    else:
        assert report.missing and report.hints


async def test_every_program_gets_a_fresh_empty_working_directory(pool: SandboxPool) -> None:
    first = await pool.run(
        Program("import os\nopen('left.txt', 'w').write('x')\nprint(os.listdir('.'))")
    )
    second = await pool.run(Program("import os\nprint(os.listdir('.'), os.getcwd() != '/')"))
    assert first.stdout == b"['left.txt']\n"
    assert second.stdout == b"[] True\n"


async def test_limits_are_enforced(pool: SandboxPool) -> None:
    loop = await pool.run(Program("while True:\n    pass"), Limits(wall=0.5))
    assert loop.limit == "timeout" and loop.signal == 9
    cpu = await pool.run(Program("while True:\n    pass"), Limits(wall=10, cpu=1))
    assert cpu.limit == "cpu"
    big = await pool.run(Program("x = bytearray(600 * 1024 * 1024)"), Limits(memory=256 << 20))
    assert big.limit == "memory"
    noisy = await pool.run(Program("while True:\n    print('x' * 1000)"), Limits(output=4096))
    assert noisy.limit == "output" and noisy.stdout_truncated and len(noisy.stdout) == 4096
    sparse = await pool.run(
        Program("f = open('big', 'wb')\nf.seek(10 * 2**30)\nf.write(b'x')\nf.close()")
    )
    assert sparse.limit == "file_size"


async def test_programs_run_concurrently(pool: SandboxPool) -> None:
    await asyncio.gather(*(pool.run(Program("pass")) for _ in range(2)))  # two warm workers
    program = Program("import time\nstart = time.time()\ntime.sleep(1)\nprint(start, time.time())")
    results = await asyncio.gather(*(pool.run(program) for _ in range(2)))
    (start_a, end_a), (start_b, end_b) = (map(float, r.stdout.split()) for r in results)
    assert max(start_a, start_b) < min(end_a, end_b)  # the two sleeps overlapped


async def test_a_worker_that_saw_trouble_is_replaced(pool: SandboxPool) -> None:
    await pool.run(Program("print(1)"))
    first = set(pool._all)
    await pool.run(Program("while True:\n    pass"), Limits(wall=0.3))
    after = await pool.run(Program("print(2)"))
    assert after.stdout == b"2\n"
    assert not first & set(pool._all)  # the worker that ran the endless loop is gone


async def test_cancelling_a_run_stops_its_worker() -> None:
    async with SandboxPool(size=1) as pool:
        task = asyncio.create_task(pool.run(Program("import time\ntime.sleep(30)")))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await pool.run(Program("print('next')"))).stdout == b"next\n"


async def test_closed_pool_refuses_and_leaves_nothing() -> None:
    pool = SandboxPool(size=2)
    await asyncio.gather(*(pool.run(Program("print(1)")) for _ in range(4)))
    await pool.aclose()
    with pytest.raises(SandboxError):
        await pool.run(Program("print(1)"))


async def test_weak_mode_is_refused_unless_allowed() -> None:
    with pytest.raises(SandboxError) as caught:
        async with SandboxPool(size=1, config=SandboxConfig(isolation="none")) as pool:
            await pool.start()
    message = str(caught.value)
    assert "allow_weak_sandbox: true" in message and "PID namespace" in message
    async with SandboxPool(size=1, config=SandboxConfig(isolation="none"), allow_weak=True) as weak:
        report = await weak.start()
        assert not report.strong and report.hints
        result = await weak.run(Program("import os\nprint(len(os.environ))"))
        assert result.ok and int(result.stdout) <= 5


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid split exists only when run as root")
async def test_root_programs_run_as_an_unprivileged_host_uid(pool: SandboxPool) -> None:
    report = await pool.start()
    result = await pool.run(Program("import os\nprint(open('/proc/self/uid_map').read())"))
    assert "host uid" in report.layers["uid"]
    host_uids = {int(line.split()[1]) for line in result.stdout.decode().splitlines() if line}
    assert 0 not in host_uids and len(host_uids) == 2


async def test_programs_hold_no_capabilities_and_cannot_gain_any(pool: SandboxPool) -> None:
    source = (
        "fields = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "names = ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'NoNewPrivs')\n"
        "print(*(fields[k].strip() for k in names))"
    )
    result = await pool.run(Program(source))
    assert result.stdout.split() == [b"0000000000000000"] * 4 + [b"1"]


async def test_nested_user_namespaces_are_refused(pool: SandboxPool) -> None:
    report = await pool.start()
    if report.layers.get("nested namespaces") != "refused":
        pytest.skip("this kernel lets the zygote keep nested user namespaces")
    source = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.unshare(0x10000000), os.strerror(ctypes.get_errno()))\n"
    )
    result = await pool.run(Program(source))
    assert result.stdout.startswith(b"-1 ")


def test_workers_die_with_a_killed_teachkit_process(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(
        "import asyncio, sys\n"
        "from teachkit.sandbox import Program, SandboxPool\n"
        "async def main():\n"
        "    pool = SandboxPool(size=2)\n"
        "    daemon = 'import os, time\\nif os.fork() == 0:\\n'\n"
        "    daemon += '    os.setsid()\\n    time.sleep(60)\\n'\n"
        "    await asyncio.gather(pool.run(Program('print(1)')), pool.run(Program('print(2)')))\n"
        "    print('ready', flush=True)\n"
        "    await pool.run(Program(daemon + 'time.sleep(60)'))\n"
        "asyncio.run(main())\n"
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # the program and its daemon are running now
    owner.kill()
    owner.wait()
    for _ in range(100):  # parent-death signals cascade: zygote, then the namespace's init
        alive = _live_sandbox_processes()
        if not alive:
            break
        time.sleep(0.05)
    assert not alive


def _live_sandbox_processes() -> list[str]:
    from teachkit.sandbox.config import UID_BASE

    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields.get("Uid", "0").split()[0]) if entry.isdigit() else -1
        if UID_BASE <= uid < UID_BASE + (1 << 24) and not fields["State"].strip().startswith("Z"):
            found.append(f"{entry} {fields['Name'].strip()}")
    return found


@pytest.mark.parametrize("landlock", [True, False])
async def test_a_program_holds_only_its_own_file_descriptors(landlock: bool) -> None:
    source = (
        "import os\n"
        "print(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))\n"
        "for fd in range(3, 256):\n"
        "    try:\n"
        "        os.write(fd, b'{}')\n"
        "        print('writable', fd)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    async with SandboxPool(size=1, config=SandboxConfig(landlock=landlock)) as pool:
        result = await pool.run(Program(source))
    lines = result.stdout.decode().splitlines()
    fds = [int(x) for x in lines[0].strip("[]").split(", ")]
    # 0-2, the report pipe, the one listdir opens, the seal ruleset (with Landlock)
    assert set(fds) <= {0, 1, 2, 3, 4, 5}
    assert lines[1:] == ["writable 3"]  # only its own report channel


async def test_the_cgroup_holds_all_processes_of_a_program_together() -> None:
    limits = Limits(wall=20, memory=256 << 20, tmpfs=16 << 20, processes=8)
    async with SandboxPool(size=1, limits=limits) as pool:
        report = await pool.start()
        if "cgroup" not in report.layers:
            pytest.skip(f"no cgroup can be made here: {report.missing}")
        (worker,) = pool._all
        assert worker.cgroup is not None
        folders = {worker.cgroup.memory, worker.cgroup.pids}
        assert all(folder.is_dir() for folder in folders)
        source = (  # six processes of 150 MiB each: every one within its own address space
            "import os, time\n"
            "for _ in range(5):\n"
            "    if os.fork() == 0:\n"
            "        break\n"
            "hoard = bytearray(150 * 2**20)\n"
            "time.sleep(5)\n"
        )
        result = await pool.run(Program(source))
        assert result.limit == "memory"
    assert not any(folder.exists() for folder in folders)  # removed with the worker
