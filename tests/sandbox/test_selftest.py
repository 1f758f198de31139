"""The self-test behind ``teachkit sandbox check``, in this process, from the command line,
and as an ordinary user where this machine lets one run the interpreter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from teachkit.sandbox import SandboxPool
from teachkit.sandbox.selftest import self_test


async def test_self_test_passes_where_the_namespaces_exist(pool: SandboxPool) -> None:
    report = await pool.start()
    checks = {c.name: c for c in await self_test(pool)}
    assert set(checks) >= {"network refused", "host files unwritable", "memory limit"}
    assert checks["host files unwritable"].ok and checks["environment scrubbed"].ok
    assert checks["memory limit"].ok and checks["time limit"].ok
    if not report.strong:
        pytest.skip(f"weak sandbox here ({report.missing}); the namespace checks cannot pass")
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]


def _check_command(prefix: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "teachkit", "sandbox", "check", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )


def test_check_command_reports_layers_and_checks() -> None:
    done = _check_command([])
    out = json.loads(done.stdout)
    assert done.returncode == (0 if out["strong"] else 10), done.stderr
    assert out["layers"] and {c["name"] for c in out["checks"]} >= {"network refused"}
    if out["strong"]:
        assert all(c["ok"] for c in out["checks"]), out["checks"]


#: the interpreter must start itself again (the zygote) and read the sources as uid 65534
_PROBE = (
    "import subprocess, sys; open({src!r} + '/teachkit/errors.py').close(); "
    "subprocess.run([sys.executable, '-I', '-c', 'import ctypes, _hashlib'], check=True)"
)

_DRIVER = """
import asyncio, json, sys, types
src = sys.argv[1]
package = types.ModuleType("teachkit")  # the sandbox needs only teachkit.errors: skip the rest
package.__path__ = [src + "/teachkit"]
sys.modules["teachkit"] = package
from teachkit.sandbox import SandboxPool
from teachkit.sandbox.selftest import self_test

async def main():
    async with SandboxPool(size=1) as pool:
        checks = await self_test(pool)
        out = {"report": pool.report.to_dict(), "uid": pool.report.layers["uid"]}
        out["checks"] = [[c.name, c.ok, c.detail] for c in checks]
        print(json.dumps(out))

asyncio.run(main())
"""


def test_self_test_as_an_ordinary_user(tmp_path_factory: pytest.TempPathFactory) -> None:
    """As root: the same pool and self-test run as uid 65534 (the single-uid mapping)."""
    if os.geteuid() != 0:
        pytest.skip("already an ordinary user: the other tests ran the single-uid mapping")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    drop = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    src = str(Path(__file__).resolve().parents[2] / "src")
    pythons = [sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"]
    usable = [
        python
        for python in pythons
        if os.path.exists(python)
        and subprocess.run(
            [
                *drop,
                python,
                "-c",
                _PROBE.format(src=src),
            ],
            capture_output=True,
            timeout=60,
            cwd="/",
        ).returncode
        == 0
    ]
    if not usable:
        pytest.skip(f"uid 65534 can run none of {pythons} with {src} readable on this machine")
    folder = Path(tempfile.mkdtemp(prefix="teachkit-user-"))
    try:
        os.chmod(folder, 0o755)
        (folder / "driver.py").write_text(_DRIVER)
        os.chmod(folder / "driver.py", 0o644)
        done = subprocess.run(
            [*drop, usable[0], str(folder / "driver.py"), src],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
        )
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["report"]["strong"] and "this user (uid 65534)" in out["uid"]
    failed = [c for c in out["checks"] if not c[1]]
    assert not failed, failed
