"""Kill a real ``teachkit run`` of a preference recipe with SIGKILL mid-run, resume, and check
that nothing is lost, duplicated, or paid twice (candidates, judge and reward answers)."""

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

RECIPE = """
name: killpref
teacher:
  backend: openai
  model: fake
  base_url: {base_url}
  max_concurrency: 4
  options: {{supports_n: false}}
  sampling: {{temperature: 0.9, max_tokens: 64}}
generator:
  kind: preference
  count: 12
  keep_uninformative: true
  prompts:
    template: "Explain {{{{ thing }}}} to a child."
    axes:
      thing: [rain, tides, magnets, rainbows, volcanoes, bread, ice, wind]
      age: ["5", "9"]
  candidates: 3
  scorers:
    - kind: reward
      base_url: {root}
"""


def start(recipe: Path, run: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "teachkit", "--debug", "run", str(recipe), "--out", str(run), "-q"]
    handle = open(log, "ab")  # noqa: SIM115 - closed when the process ends
    return subprocess.Popen(
        cmd, stdout=handle, stderr=handle, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    with FakeServerProcess(latency=0.15) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(RECIPE.format(base_url=server.base_url, root=server.url))
        run = tmp_path / "run"
        logs: list[Path] = []
        for index, (commits, extra) in enumerate([(0, 0.5), (2, 0.1), (5, 0.25), (8, 0.05)]):
            log = tmp_path / f"session{index}.log"
            logs.append(log)
            proc = start(recipe, run, log)
            deadline = time.monotonic() + 120
            while journal_commits(run) < commits and proc.poll() is None:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.02)
            time.sleep(extra)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        final = tmp_path / "final.log"
        logs.append(final)
        assert start(recipe, run, final).wait(timeout=300) == 0, final.read_text()[-3000:]

    accepted = shard_rows(run, "accepted")
    assert len(accepted) == 12
    assert len({r["id"] for r in accepted}) == 12
    jobs = [r["meta"]["job"] for r in accepted]
    assert len(jobs) == len(set(jobs)), "a prompt was committed twice"
    for row in accepted:
        candidates = row["meta"]["candidates"]
        assert len(candidates) == 3
        assert all(isinstance(c["scores"]["reward"], float) for c in candidates)
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert manifest["status"] == "complete" and manifest["accepted"] == 12
    # every candidate and reward answer received before a kill came from the cache afterwards
    paid = paid_answers(logs)
    assert len(paid) >= 12 * 6
