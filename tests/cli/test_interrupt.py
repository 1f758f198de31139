"""Ctrl-C: a real `teachkit run` sent SIGINT says so, exits 130 without a traceback, leaves the
run directory saying `interrupted`, and the same command resumes it to exactly `count`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import teachkit
from support import journal_commits
from teachkit.rundir import RunStatus, run_state
from teachkit.testing import FakeServerProcess

REMOTE = """
name: sigint
teacher: {{backend: openai, model: fake, base_url: {url}, max_concurrency: 8}}
generator:
  kind: templated
  count: 120
  axes: {{x: [{values}]}}
  prompt: "Tell me about {{{{ x }}}}"
"""
EMBEDDED = """
name: sigint-local
teacher: {backend: llamacpp, sampling: {max_tokens: 48}}
generator:
  kind: templated
  count: 5
  axes: {thing: [a kite, a lamp, a river, a drum, a seed, a cloud]}
  prompt: "In one short sentence, name one use of {{ thing }}."
"""


def interrupt_then_resume(recipe: Path, run: Path, *, after_commits: int, count: int) -> None:
    cmd = [sys.executable, "-m", "teachkit", "run", str(recipe), "--out", str(run), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while journal_commits(run) < after_commits and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    said = out.decode() + err.decode()
    assert proc.returncode == 130, said
    assert "Interrupted. Run the same command again to resume." in err.decode()
    assert "Traceback" not in said and "ERROR" not in said, said
    state = run_state(run)
    assert state.status is RunStatus.INTERRUPTED and state.committed > 0
    assert state.accepted < count
    assert "interrupted" in state.message
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    records = list(teachkit.read_accepted(run))
    assert len(records) == count and len({r.id for r in records}) == count


def test_ctrl_c_with_a_remote_teacher(tmp_path: Path) -> None:
    values = ", ".join(f"v{i}" for i in range(120))
    with FakeServerProcess(latency=0.05) as server:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(REMOTE.format(url=server.base_url, values=values))
        interrupt_then_resume(recipe, tmp_path / "run", after_commits=20, count=120)


@pytest.mark.slow
def test_ctrl_c_with_the_embedded_teacher(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(EMBEDDED)
    interrupt_then_resume(recipe, tmp_path / "run", after_commits=1, count=5)
