"""Kill a real `teachkit run` of Evol-Instruct (fake server in its own process) and of Magpie
(the embedded model) with SIGKILL at several moments, resume, and check that the run ends with
exactly the records asked for, none twice, and no answer paid for twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from support import journal_commits, paid_answers, shard_rows
from teachkit.testing import FakeServerProcess

EVOL = """
name: evol-kill
teacher: {{backend: openai, model: fake, base_url: "{url}", max_concurrency: 4}}
generator: {{kind: evol_instruct, count: 10, rounds: 2}}
"""

MAGPIE = """
name: magpie-kill
teacher: {backend: llamacpp, options: {n_threads: 1}}
generator:
  kind: magpie
  count: 4
  max_tokens: 32
  response: {max_tokens: 32, drop_truncated: false}
run: {max_requests: 40}
"""


def start(recipe: Path, run: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "teachkit", "--debug", "run", str(recipe), "--out", str(run), "-q"]
    handle = open(log, "ab")  # noqa: SIM115 - closed when the process ends
    return subprocess.Popen(
        cmd, stdout=handle, stderr=handle, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def kill_when(proc: subprocess.Popen[bytes], run: Path, commits: int, extra: float) -> None:
    deadline = time.monotonic() + 180
    while journal_commits(run) < commits and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(extra)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def kill_and_resume(recipe: Path, run: Path, moments: list[tuple[int, float]]) -> list[Path]:
    logs: list[Path] = []
    for index, (commits, extra) in enumerate(moments):
        logs.append(run.parent / f"session{index}.log")
        kill_when(start(recipe, run, logs[-1]), run, commits, extra)
    logs.append(run.parent / "final.log")
    proc = start(recipe, run, logs[-1])
    assert proc.wait(timeout=600) == 0, logs[-1].read_text()[-3000:]
    return logs


def check_run(run: Path, count: int, logs: list[Path]) -> list[dict[str, object]]:
    accepted = shard_rows(run, "accepted")
    rejected = shard_rows(run, "rejected")
    assert len(accepted) == count and len({r["id"] for r in accepted}) == count
    jobs = [r["meta"]["job"] for r in accepted] + [r["record"]["meta"]["job"] for r in rejected]
    assert len(jobs) == len(set(jobs)), "a job was committed twice"
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert manifest["status"] == "complete" and manifest["accepted"] == count
    paid_answers(logs)  # fails if an answer received before a kill is paid for again
    return accepted


@pytest.mark.slow
def test_evol_instruct_survives_kills(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text('"Your Judgement": "Not Equal"\n')
    with FakeServerProcess(latency=0.03, script=script) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(EVOL.format(url=server.base_url))
        run = tmp_path / "run"
        logs = kill_and_resume(recipe, run, [(0, 0.4), (2, 0.0), (5, 0.02), (9, 0.05)])
        answered = server.stats()
    accepted = check_run(run, 10, logs)
    # lineages went on across the kills: second-round records carry a two-step chain
    rounds = {r["meta"]["round"] for r in accepted}  # type: ignore[index]
    assert rounds == {1, 2}
    for row in accepted:
        meta = row["meta"]
        assert len(meta["evolution"]) == meta["round"]  # type: ignore[index, arg-type]
    assert answered["answered"] >= 10


@pytest.mark.slow
def test_magpie_survives_kills(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(MAGPIE)
    run = tmp_path / "run"
    logs = kill_and_resume(recipe, run, [(0, 0.5), (1, 0.0), (3, 0.1)])
    accepted = check_run(run, 4, logs)
    conversations = [r["meta"]["conversation"] for r in accepted]  # type: ignore[index]
    assert len(set(conversations)) == 4
