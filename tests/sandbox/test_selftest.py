"""The self-test behind ``teachkit sandbox check``, in this process, from the command line,
and as an ordinary user where this machine lets one run the interpreter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

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


def test_check_as_an_ordinary_user() -> None:
    if os.geteuid() != 0:
        done = _check_command([])  # already an ordinary user: the single-uid mapping
    else:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is not installed")
        drop = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        probe = subprocess.run(
            [*drop, sys.executable, "-c", "import teachkit.sandbox"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        if probe.returncode != 0:
            why = (probe.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"uid 65534 cannot run {sys.executable} with teachkit here ({why})")
        done = _check_command(drop)
    out = json.loads(done.stdout)
    assert "single" in json.dumps(out) or not out["strong"] or "uid" in out["layers"]
    assert done.returncode in (0, 10), done.stderr
    if out["strong"]:
        assert all(c["ok"] for c in out["checks"]), out["checks"]
