"""Hostile candidate solutions: each yields a failed verdict within its limits, leaves the host
unchanged and leaves no process behind (the autouse leak check in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from teachkit.records import Record
from teachkit.verifiers.base import Verdict
from teachkit.verifiers.python import PythonSpec, PythonVerifier

TESTS = ["assert solve(2) == 4", "assert solve(3) == 9"]
FAKE_KEY = "sk-teachkit-fake-0123456789abcdef"


@pytest.fixture
async def verifier() -> AsyncIterator[PythonVerifier]:
    v = PythonVerifier(PythonSpec(timeout=2, workers=2, processes=16, memory_mb=128))
    await v.start()
    yield v
    await v.aclose()


@pytest.fixture
def dangerous(verifier: PythonVerifier) -> PythonVerifier:
    """Only where a PID namespace and the process limit are confirmed."""
    report = verifier.pool.report
    assert report is not None
    if not report.strong or "processes" not in report.layers.get("rlimits", ""):
        pytest.skip(f"no PID namespace with a process limit here: missing {report.missing}")
    return verifier


async def judge(verifier: PythonVerifier, code: str, tests: list[str] = TESTS) -> Verdict:
    record = Record(
        messages=[
            {"role": "user", "content": "Write solve(x) returning x squared."},
            {"role": "assistant", "content": f"```python\n{code}\n```"},
        ],
        meta={"tests": tests},
    )
    started = time.monotonic()
    verdict = await verifier.verify(record)
    assert time.monotonic() - started < verifier.spec.timeout + 3  # within its limits
    assert not verdict.passed, verdict
    return verdict


async def test_a_correct_solution_passes(verifier: PythonVerifier) -> None:
    record = Record(
        messages=[
            {"role": "assistant", "content": "```python\ndef solve(x):\n    return x * x\n```"}
        ],
        meta={"tests": TESTS},
    )
    verdict = await verifier.verify(record)
    assert verdict.passed and verdict.reason == "passed" and verdict.score == 1.0


async def test_fork_bomb(dangerous: PythonVerifier) -> None:
    verdict = await judge(dangerous, "import os\nwhile True:\n    os.fork()")
    assert verdict.reason in ("error", "timeout", "exited_early")


async def test_memory_bomb(verifier: PythonVerifier) -> None:
    verdict = await judge(verifier, "hoard = []\nwhile True:\n    hoard.append(bytearray(10**7))")
    assert verdict.reason == "memory"


async def test_infinite_loop(verifier: PythonVerifier) -> None:
    verdict = await judge(verifier, "def solve(x):\n    while True:\n        pass")
    assert verdict.reason == "timeout" and "solve(2)" in verdict.detail


async def test_busy_child_that_ignores_sigterm(verifier: PythonVerifier) -> None:
    code = (
        "import os, signal\n"
        "if os.fork() == 0:\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"
        "os.wait()\n"
    )
    verdict = await judge(verifier, code)
    assert verdict.reason == "timeout", verdict


async def test_daemon_with_a_new_session(verifier: PythonVerifier, tmp_path: Path) -> None:
    marker = tmp_path / "daemon-was-here"
    os.chmod(tmp_path, 0o777)
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(1)\n"
        f"        open({str(marker)!r}, 'w').write('alive')\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "def solve(x):\n"
        "    return x + x\n"
    )
    verdict = await judge(verifier, code)
    assert verdict.reason == "assertion_failed" and verdict.data["leftover"] >= 1
    await asyncio.sleep(1.5)
    assert not marker.exists()


async def test_ten_gigabyte_file(verifier: PythonVerifier) -> None:
    dense = await judge(
        verifier, "with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)"
    )
    sparse = await judge(
        verifier, "with open('big', 'wb') as f:\n    f.seek(10 * 2**30)\n    f.write(b'x')"
    )
    assert dense.reason == sparse.reason == "file_size"


async def test_rewriting_files_outside_the_working_directory(
    verifier: PythonVerifier, run_dir: tuple[Path, Callable[[], dict[str, str]]]
) -> None:
    run, snapshot = run_dir
    before = snapshot()
    code = (
        "import os, shutil, sqlite3\n"
        f"run = {str(run)!r}\n"
        "for attempt in (\n"
        "    lambda: open(os.path.join(run, 'journal.jsonl'), 'a').write('forged'),\n"
        "    lambda: sqlite3.connect(os.path.join(run, 'cache.sqlite'))"
        ".execute('delete from answers'),\n"
        "    lambda: os.remove(os.path.join(run, 'manifest.json')),\n"
        "    lambda: shutil.rmtree(run),\n"
        "    lambda: open('/etc/passwd', 'a').write('x'),\n"
        "    lambda: open('/usr/lib/teachkit-probe', 'w'),\n"
        "    lambda: os.rename('/etc/hostname', '/etc/hostname.bak'),\n"
        "):\n"
        "    try:\n"
        "        attempt()\n"
        "    except Exception:\n"
        "        pass\n"
    )
    verdict = await judge(verifier, code)
    assert verdict.reason == "error" and "solve" in verdict.detail  # NameError: solve
    assert snapshot() == before
    assert not os.path.exists("/usr/lib/teachkit-probe")


async def test_api_key_in_the_environment(
    verifier: PythonVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    await verifier.aclose()  # start the workers again with the key in this process's environment
    fresh = PythonVerifier(PythonSpec(timeout=5, workers=1))
    try:
        code = (
            "import os, glob\n"
            "found = [os.environ.get('OPENAI_API_KEY', '')]\n"
            "for path in glob.glob('/proc/*/environ'):\n"
            "    try:\n"
            "        found.append(open(path, 'rb').read().decode(errors='replace'))\n"
            "    except OSError:\n"
            "        pass\n"
            "print(found)\n"
            "def solve(x):\n"
            "    raise AssertionError(repr(found))\n"
        )
        verdict = await judge(fresh, code)
        assert FAKE_KEY not in verdict.detail and "sk-" not in verdict.detail
        assert verdict.reason == "assertion_failed"
    finally:
        await fresh.aclose()


async def test_connecting_to_a_server_on_the_host_loopback(verifier: PythonVerifier) -> None:
    connections: list[bool] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(True)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = (
        "import socket\n"
        "def solve(x):\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'hi')\n"
        "    return x * x\n"
    )
    try:
        verdict = await judge(verifier, code)
    finally:
        server.close()
        await server.wait_closed()
    assert verdict.reason == "error" and not connections


async def test_killing_its_parent_and_everything(dangerous: PythonVerifier) -> None:
    sentinel = subprocess.Popen(["sleep", "30"])
    try:
        code = (
            "import os, signal\n"
            "refused = 0\n"
            "for target in (os.getppid(), 1, -1):\n"
            "    try:\n"
            "        os.kill(target, signal.SIGKILL)\n"
            "    except OSError:\n"
            "        refused += 1\n"
            "def solve(x):\n"
            "    return 0\n"
        )
        verdict = await judge(dangerous, code)
        assert verdict.reason == "assertion_failed"  # the harness itself survived kill(-1)
        assert sentinel.poll() is None  # a host process of the same machine is untouched
        after = await dangerous.verify(
            Record(
                messages=[{"role": "assistant", "content": "def solve(x):\n    return x * x"}],
                meta={"tests": TESTS},
            )
        )
        assert after.passed
    finally:
        sentinel.kill()
        sentinel.wait()


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.exit(0)",
        "import os\nos._exit(0)",
        "def solve(x):\n    raise SystemExit(0)",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "import os\nos.write(3, b'E\\x00\\x00\\x00\\x02{}' + bytes(32))\nos._exit(0)",
        "import os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n    except OSError:\n"
        "        pass\ndef solve(x):\n    return x * x",
        "import builtins\nbuiltins.enumerate = lambda x: iter(())\nbuiltins.len = lambda x: 0",
        "import sys\ndef solve(x):\n    frame = sys._getframe(1)\n    return x * x\nsolve(1)",
    ],
    ids=[
        "sys.exit",
        "os._exit",
        "SystemExit",
        "self-kill",
        "forged-end",
        "closed-fds",
        "patched-builtins",
        "frame-walk",
    ],
)
async def test_exiting_or_faking_success_before_the_tests(
    verifier: PythonVerifier, code: str
) -> None:
    verdict = await judge(verifier, code)
    assert verdict.reason in ("exited_early", "error")


async def test_a_started_program_cannot_trace_the_harness(verifier: PythonVerifier) -> None:
    tracer = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.ptrace(16, os.getppid(), 0, 0), ctypes.get_errno())\n"  # PTRACE_ATTACH
    )
    code = (
        "import subprocess, sys\n"
        f"out = subprocess.run([sys.executable, '-c', {tracer!r}], capture_output=True)\n"
        "def solve(x):\n"
        "    raise AssertionError(out.stdout.decode().strip())\n"
    )
    verdict = await judge(verifier, code)
    assert verdict.reason == "assertion_failed" and "-1 1" in verdict.detail  # EPERM
