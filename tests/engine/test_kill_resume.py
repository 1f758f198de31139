"""Kill a real `teachkit run` with SIGKILL at various moments, resume, and check the guarantees.

The teacher is the real embedded model. After every kill the same command is run again; at the
end the run directory must hold exactly the requested number of accepted records, none
duplicated, no half-written line, and no answer that was received before a kill requested again.
"""

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

RECIPE = """
name: killme
teacher:
  backend: llamacpp
  sampling: {max_tokens: 64, temperature: 0.8}
generator:
  kind: templated
  count: 10
  axes:
    thing: [a kite, a lamp, a river, a drum, a seed, a cloud]
  prompt: "In one short sentence, name one use of {{ thing }}."
"""


def start(recipe: Path, run: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "teachkit", "--debug", "run", str(recipe), "--out", str(run), "-q"]
    handle = open(log, "ab")  # noqa: SIM115 - closed when the process ends
    return subprocess.Popen(
        cmd, stdout=handle, stderr=handle, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def kill_when(
    proc: subprocess.Popen[bytes], run: Path, *, commits_at_least: int, extra: float
) -> None:
    deadline = time.monotonic() + 120
    while (
        journal_commits(run) < commits_at_least
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    time.sleep(extra)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_sigkill_at_many_moments_then_resume(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    run = tmp_path / "run"
    logs: list[Path] = []
    # (commits seen before the kill, extra delay): during start-up, mid-generation, right after
    # a commit (inside the next write), and later in the run
    moments = [(0, 0.3), (1, 0.0), (2, 0.35), (4, 0.01), (6, 0.2)]
    seen = []
    for index, (at, extra) in enumerate(moments):
        log = tmp_path / f"session{index}.log"
        logs.append(log)
        kill_when(start(recipe, run, log), run, commits_at_least=at, extra=extra)
        seen.append(journal_commits(run))
    final_log = tmp_path / "final.log"
    logs.append(final_log)
    proc = start(recipe, run, final_log)
    assert proc.wait(timeout=300) == 0, final_log.read_text()[-3000:]

    accepted = shard_rows(run, "accepted")
    rejected = shard_rows(run, "rejected")
    assert len(accepted) == 10
    assert len({r["id"] for r in accepted}) == 10
    jobs = [r["meta"]["job"] for r in accepted] + [r["record"]["meta"].get("job") for r in rejected]
    assert len(jobs) == len(set(jobs)), "a job was committed twice"
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert manifest["status"] == "complete" and manifest["accepted"] == 10

    # no answer paid for before a kill was requested from the teacher again
    paid = paid_answers(logs)
    assert len(paid) >= 10
    print(f"\ncommits in the journal after each kill: {seen}; answers paid: {len(paid)}")

    # a finished run does nothing the next time, and says so
    again = subprocess.run(
        [sys.executable, "-m", "teachkit", "run", str(recipe), "--out", str(run)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0
    assert "nothing to do" in again.stdout
