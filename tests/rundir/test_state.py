"""Where a run stands comes from the journal and the lock, never from a stale manifest."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import teachkit
from support import journal_commits
from teachkit.cli import main
from teachkit.rundir import RunDir, RunStatus, run_state
from teachkit.testing import FakeServerProcess

SCRIPTED = (
    "name: state\nteacher: {backend: scripted, max_concurrency: 4}\n"
    "generator: {kind: templated, count: 40, prompt: 'Say hi {{ n }}',\n"
    "            axes: {n: [" + ", ".join(f"v{i}" for i in range(40)) + "]}}\n"
)
REMOTE = """
name: remote
teacher: {{backend: openai, model: fake, base_url: {url}, max_concurrency: 4}}
generator:
  kind: templated
  count: 200
  axes: {{x: [{values}]}}
  prompt: "Tell me about {{{{ x }}}}"
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(SCRIPTED)
    return path


def test_partial_results_without_a_word(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status` of a killed run says it was interrupted, with the journal's counts."""
    values = ", ".join(f"t{i}" for i in range(200))
    with FakeServerProcess(latency=0.05) as server:
        recipe = tmp_path / "remote.yaml"
        recipe.write_text(REMOTE.format(url=server.base_url, values=values))
        run = tmp_path / "run"
        cmd = [sys.executable, "-m", "teachkit", "run", str(recipe), "--out", str(run), "-q"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        # past the first manifest write (every 2 s), so a stale manifest says "running"
        while time.monotonic() < deadline and not (
            (run / "manifest.json").exists() and journal_commits(run) >= 30
        ):
            time.sleep(0.01)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    committed = len(list(teachkit.read_accepted(run)))
    assert manifest["status"] == "running" and manifest["accepted"] < committed
    assert main(["status", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "interrupted" in printed and "running" not in printed
    rows = {line.split()[0]: line.split()[-1] for line in printed.splitlines() if line.split()}
    assert rows["accepted"] == str(committed)
    state = run_state(run)
    assert state.status is RunStatus.INTERRUPTED and not state.live
    assert state.accepted == committed and state.requested == 200
    assert state.pending == state.jobs - state.committed


def test_a_locked_run_is_running(tmp_path: Path, recipe: Path, scripted: Any) -> None:
    teachkit.run(teachkit.load_recipe(recipe), tmp_path / "run")
    assert run_state(tmp_path / "run").status is RunStatus.COMPLETE
    other = RunDir(tmp_path / "run")
    other.lock()
    try:
        state = run_state(tmp_path / "run")
        assert state.live and state.status is RunStatus.RUNNING
    finally:
        other.unlock()
    assert not run_state(tmp_path / "run").live


def _keep_commits(journal: Path, commits: int) -> None:
    kept: list[bytes] = []
    seen = 0
    for line in journal.read_bytes().splitlines(keepends=True):
        if b'"type":"commit"' in line:
            if seen == commits:
                break
            seen += 1
        kept.append(line)
    journal.write_bytes(b"".join(kept))


def test_complete_is_read_from_the_manifest_not_the_journal(
    tmp_path: Path, recipe: Path, scripted: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(run), "-q"]) == 0
    shards = {p: p.read_bytes() for p in run.glob("*ed/*.jsonl")}
    _keep_commits(run / "journal.jsonl", 11)
    capsys.readouterr()
    assert main(["run", str(recipe), "--out", str(run), "-q"]) == 4
    said = capsys.readouterr().err
    assert "commits only 11" in said and "move manifest.json away" in said
    assert {p: p.read_bytes() for p in run.glob("*ed/*.jsonl")} == shards  # nothing was cut
    assert main(["status", str(run)]) == 4
    printed = capsys.readouterr()
    assert "commits only 11" in printed.err and "interrupted" in printed.out
    assert run_state(run).accepted == 11
    # the way out the message gives: keep the 11 and make the rest again
    (run / "manifest.json").rename(run / "manifest.json.bak")
    calls = len(scripted.calls)
    assert main(["run", str(recipe), "--out", str(run), "-q"]) == 0
    records = list(teachkit.read_accepted(run))
    assert len(records) == 40 and len({r.id for r in records}) == 40
    assert len(scripted.calls) == calls, "the lost answers came from the cache"
