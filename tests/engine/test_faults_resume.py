"""A remote teacher failing 20% of the time in mixed ways, and SIGKILLs on top.

`teachkit serve-fake` runs in its own process with injected 429 (with Retry-After), 500, 503,
dropped connections, truncated and malformed answers. A real `teachkit run` is killed with SIGKILL
several times and resumed. The run must end with exactly the requested records, none duplicated,
and no answer received before a kill requested again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from support import journal_commits, paid_answers, shard_rows
from teachkit.testing import FakeServerProcess, FaultPlan

COUNT = 300


def recipe_text(base_url: str) -> str:
    return f"""
name: faults
teacher:
  backend: openai
  model: fake-teacher
  base_url: {base_url}
  max_concurrency: 16
  max_retries: 8
  timeout: 10
  sampling: {{max_tokens: 64}}
generator:
  kind: templated
  count: {COUNT}
  axes:
    topic: [tides, yeast, magnets, rainbows, volcanoes, bees, comets, glaciers, coral, moss]
    level: [a child, a student, an expert, a farmer, a pilot]
    style: [plainly, with an example, in one line, as a story]
  prompt: "Explain {{{{ topic }}}} to {{{{ level }}}} {{{{ style }}}}."
"""


def test_twenty_percent_faults_and_sigkills(tmp_path: Path) -> None:
    faults = FaultPlan(
        rate_429=0.05,
        rate_500=0.04,
        rate_503=0.02,
        rate_drop=0.03,
        rate_truncated=0.03,
        rate_malformed=0.03,
        retry_after=0.05,
        seed=7,
    )
    with FakeServerProcess(latency=0.01, faults=faults) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(recipe_text(server.base_url))
        run = tmp_path / "run"
        cmd = [
            sys.executable,
            "-m",
            "teachkit",
            "--debug",
            "run",
            str(recipe),
            "--out",
            str(run),
            "-q",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        logs = []
        for index, at in enumerate([20, 90, 170, 240]):
            log = tmp_path / f"s{index}.log"
            logs.append(log)
            with open(log, "wb") as handle:
                proc = subprocess.Popen(cmd, stdout=handle, stderr=handle, env=env)
                deadline = time.monotonic() + 120
                while (
                    journal_commits(run) < at
                    and proc.poll() is None
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        final = tmp_path / "final.log"
        logs.append(final)
        with open(final, "wb") as handle:
            done = subprocess.run(cmd, stdout=handle, stderr=handle, env=env, timeout=300)
        assert done.returncode == 0, final.read_text()[-3000:]
        served = server.stats()

    accepted = shard_rows(run, "accepted")
    rejected = shard_rows(run, "rejected")
    assert len(accepted) == COUNT
    assert len({r["id"] for r in accepted}) == COUNT
    jobs = [r["meta"]["job"] for r in accepted] + [r["record"]["meta"]["job"] for r in rejected]
    assert len(jobs) == len(set(jobs)), "a job was committed twice"
    reasons = Counter(f"{r['filter']}:{r['reason']}" for r in rejected)
    assert set(reasons) <= {
        "generator:truncated",
        "teacher:teacher_transient",
        "quota:quota_reached",
    }

    paid = paid_answers(logs)
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert manifest["status"] == "complete" and manifest["accepted"] == COUNT
    faults_served = served["faults"]
    assert sum(v for k, v in faults_served.items() if k != "ok") > 0.1 * served["calls"]
    print(
        f"\nserver calls {served['calls']}, faults {faults_served}; answers paid {len(paid)}; "
        f"accepted {len(accepted)}; rejected {dict(reasons)}; "
        f"retries (last session) {manifest['usage']['teachers']['teacher'].get('retries')}"
    )
