"""Cost: budget_usd stops a run cleanly (and it resumes), and a dry run needs no key."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import teachkit
from support import journal_commits, paid_answers
from teachkit.engine import plan
from teachkit.errors import BudgetExceededError
from teachkit.recipe.load import parse_recipe
from teachkit.testing import FakeServer, FakeServerProcess


def recipe(base_url: str, budget: float) -> teachkit.Recipe:
    data: dict[str, Any] = {
        "name": "budget",
        "teacher": {
            "backend": "openai",
            "model": "fake",
            "base_url": base_url,
            "max_concurrency": 2,
            # one dollar per thousand completion tokens: each answer costs a few cents
            "prices": {"input_per_mtok": 0.0, "output_per_mtok": 1000.0},
        },
        "generator": {
            "kind": "templated",
            "count": 40,
            "axes": {"x": [str(i) for i in range(40)]},
            "prompt": "Tell me about {{ x }}",
        },
        "run": {"budget_usd": budget},
    }
    return parse_recipe(data)


async def test_budget_stops_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    async with FakeServer() as server:
        with pytest.raises(BudgetExceededError, match=r"budget of \$0\.2000"):
            await teachkit.run_async(recipe(server.base_url, 0.2), tmp_path / "run")
        manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
        assert manifest["status"] == "stopped"
        assert 0.2 <= manifest["cost_usd"] < 0.4
        stopped_at = manifest["accepted"]
        assert 0 < stopped_at < 40
        calls = server.stats()["answered"]
        summary = await teachkit.run_async(recipe(server.base_url, 100.0), tmp_path / "run")
        assert summary.status == "complete" and summary.accepted == 40
        # the resumed run paid only for what was missing
        assert server.stats()["answered"] - calls <= 40 - stopped_at + 2
        assert summary.manifest["cost_usd"] > manifest["cost_usd"]


def test_dry_run_needs_no_key_and_prices_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = parse_recipe(
        {
            "name": "dry",
            "teacher": {
                "backend": "openai",
                "model": "gpt-4o-mini",
                "sampling": {"max_tokens": 200},
            },
            "generator": {"kind": "templated", "count": 1000, "prompt": "Write a haiku."},
        }
    )
    estimate = plan(r)
    assert estimate.requests == 1000
    assert estimate.completion_tokens == 200_000
    assert estimate.prompt_tokens > 0
    assert estimate.cost_usd is not None and estimate.cost_usd > 0  # a built-in price


PRICED = """
name: priced
teacher:
  backend: openai
  model: fake
  base_url: {base_url}
  max_concurrency: 8
  prices: {{input_per_mtok: 100.0, output_per_mtok: 1000.0}}
generator:
  kind: templated
  count: 40
  axes: {{x: [{values}]}}
  prompt: "Tell me a fact about {{{{ x }}}}"
filters:
  - {{kind: judge, threshold: 1}}
"""


def _paid_from_cache(cache: Path) -> tuple[int, float]:
    """(answers, USD) of every answer the cache holds: what the teacher was paid for."""
    db = sqlite3.connect(cache)
    rows = db.execute("SELECT response FROM responses").fetchall()
    db.close()
    usd = 0.0
    for (blob,) in rows:
        prompt_tokens, completion_tokens = orjson.loads(blob)["usage"]
        usd += (prompt_tokens * 100.0 + completion_tokens * 1000.0) / 1e6
    return len(rows), usd


def test_cost_and_budget_lost_after_a_crash(tmp_path: Path) -> None:
    """Killed three times and resumed: the manifest's cost is what the teacher was paid, and
    the teacher's answers add up to the funnel's."""
    values = ", ".join(f"thing{i}" for i in range(40))
    with FakeServerProcess(latency=0.05) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(PRICED.format(base_url=server.base_url, values=values))
        run = tmp_path / "run"
        cmd = [sys.executable, "-m", "teachkit", "--debug", "run", str(recipe), "--out", str(run)]
        logs = []
        for index, at in enumerate([6, 15, 27]):
            log = tmp_path / f"s{index}.log"
            logs.append(log)
            with open(log, "wb") as handle:
                proc = subprocess.Popen([*cmd, "-q"], stdout=handle, stderr=handle)
                deadline = time.monotonic() + 120
                while journal_commits(run) < at and time.monotonic() < deadline:
                    if proc.poll() is not None:
                        break
                    time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        final = tmp_path / "final.log"
        logs.append(final)
        with open(final, "wb") as handle:
            done = subprocess.run([*cmd, "-q"], stdout=handle, stderr=handle, timeout=300)
        assert done.returncode == 0, final.read_text()[-3000:]
        served = server.stats()["answered"]
    paid_answers(logs)  # no answer was paid for twice
    answers, usd = _paid_from_cache(run / "cache.sqlite")
    # an answer the server sent as a kill landed never reached the client: at most a window each
    assert answers <= served <= answers + 3 * 8
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert manifest["accepted"] == 40
    assert manifest["cost_usd"] == pytest.approx(usd, abs=1e-5)
    teachers = manifest["usage"]["teachers"]
    assert sum(t["requests"] for t in teachers.values()) == answers
    # the recipe's teacher answered every request and judged every candidate once
    teacher, funnel = teachers["teacher"], manifest["funnel"]
    assert teacher["requests"] + teacher["cached"] == funnel["answers"] + funnel["generated"]


async def test_answers_from_a_shared_cache_cost_this_run_nothing(tmp_path: Path) -> None:
    cache = str(tmp_path / "shared.sqlite")
    async with FakeServer() as server:
        first = await teachkit.run_async(
            recipe(server.base_url, 100.0), tmp_path / "a", cache_path=cache
        )
        assert first.manifest["cost_usd"] > 0
        calls = server.stats()["answered"]
        second = await teachkit.run_async(
            recipe(server.base_url, 100.0), tmp_path / "b", cache_path=cache
        )
        assert server.stats()["answered"] == calls
    assert second.accepted == 40 and second.manifest["cost_usd"] == 0
    lines = [orjson.loads(x) for x in (tmp_path / "b" / "journal.jsonl").read_bytes().splitlines()]
    jobs = [line for line in lines if line["type"] == "job"]
    # the journal knows these answers were in the cache before the run asked: were this run
    # killed before committing them, a resumed session would still not count them as paid
    assert len(jobs) >= 40 and all(job["cached"] for job in jobs)
    assert lines[0]["own_cache"] is False
    own = orjson.loads((tmp_path / "a" / "journal.jsonl").read_bytes().splitlines()[0])
    assert own["own_cache"] is False  # a cache shared with --cache is never the run's own


def _forget_commits(run: Path) -> None:
    """As if every session had been killed before committing anything: keep the jobs."""
    journal = run / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(
        b"".join(x for x in lines if b'"type":"commit"' not in x and b'"type":"end"' not in x)
    )
    (run / "manifest.json").unlink()


async def test_answers_paid_before_a_kill_are_counted_once(tmp_path: Path) -> None:
    async with FakeServer() as server:
        paid = await teachkit.run_async(recipe(server.base_url, 100.0), tmp_path / "own")
        shared = str(tmp_path / "shared.sqlite")
        await teachkit.run_async(recipe(server.base_url, 100.0), tmp_path / "a", cache_path=shared)
        free = await teachkit.run_async(
            recipe(server.base_url, 100.0), tmp_path / "b", cache_path=shared
        )
        calls = server.stats()["answered"]
        _forget_commits(tmp_path / "own")
        _forget_commits(tmp_path / "b")
        again = await teachkit.run_async(recipe(server.base_url, 100.0), tmp_path / "own")
        again_free = await teachkit.run_async(
            recipe(server.base_url, 100.0), tmp_path / "b", cache_path=shared
        )
        assert server.stats()["answered"] == calls  # everything came from the caches
    # the run paid for these answers in the session that was "killed": they count, once
    assert again.accepted == 40
    assert again.manifest["cost_usd"] == pytest.approx(paid.manifest["cost_usd"])
    # these were in the cache before the run asked for them: they never cost it anything
    assert free.manifest["cost_usd"] == 0 and again_free.manifest["cost_usd"] == 0
