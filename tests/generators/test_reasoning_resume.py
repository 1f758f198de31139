"""`teachkit run` of a reasoning recipe killed with SIGKILL at several moments, then resumed:
the same records as an uninterrupted run, each problem's traces together, nothing paid twice."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.reasoning_script import KINDS, MAX_TOKENS, trace, write_problems
from support import journal_commits, paid_answers, shard_rows
from teachkit.generators.base import Generator
from teachkit.testing import FakeCall, FakeServer

PROBLEMS = 10
TRACES = 4
EXIT = 0 if hasattr(Generator, "complete_when_exhausted") else 9  # "exhausted" before that


def seeded(call: FakeCall) -> str | None:
    """A trace whose kind depends only on the request (prompt, seed, choice)."""
    if "Problem" not in call.prompt:
        return None
    p = int(call.prompt.split(":")[0].split()[-1])
    digest = hashlib.sha256(f"{call.prompt}|{call.body.get('seed')}|{call.index}".encode())
    return trace(KINDS[digest.digest()[0] % len(KINDS)], p + 2, 3 * p + 1)


def write_recipe(folder: Path, base_url: str, native: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_problems(folder / "problems.jsonl", PROBLEMS)
    data: dict[str, Any] = {
        "name": "reasoning-kill",
        "teacher": {
            "backend": "openai",
            "model": "fake",
            "base_url": base_url,
            "max_concurrency": 2,
            "options": {"supports_n": native},
            "sampling": {"max_tokens": MAX_TOKENS},
        },
        "generator": {
            "kind": "reasoning",
            "count": 1000,
            "traces": TRACES,
            "problems": {"file": "problems.jsonl", "preset": "gsm8k"},
            "verifier": {"kind": "math", "workers": 1},
        },
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def start(recipe: Path, run: Path, log: Path) -> asyncio.subprocess.Process:
    handle = open(log, "ab")  # noqa: SIM115 - the child holds it
    cmd = [sys.executable, "-m", "teachkit", "--debug", "run", str(recipe), "--out", str(run), "-q"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(*cmd, stdout=handle, stderr=handle, env=env)


async def kill_when(proc: asyncio.subprocess.Process, run: Path, at: int, extra: float) -> None:
    for _ in range(3000):
        if journal_commits(run) >= at or proc.returncode is not None:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(extra)
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


def outcomes(run: Path) -> dict[tuple[str, int], tuple[str, str]]:
    rows = [r for r in shard_rows(run, "accepted")]
    rows += [r["record"] for r in shard_rows(run, "rejected")]
    found: dict[tuple[str, int], tuple[str, str]] = {}
    for row in rows:
        key = (row["meta"]["problem_id"], row["meta"]["trace_index"])
        assert key not in found, f"trace {key} committed twice"
        found[key] = (row["id"], row["meta"]["outcome"])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("native", [False, True], ids=["one-request-per-trace", "native-n"])
async def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path: Path, native: bool) -> None:
    async with FakeServer(seeded, latency=0.15, ignore_n=not native) as server:
        reference = write_recipe(tmp_path / "reference", server.base_url, native)
        proc = await start(reference, tmp_path / "reference" / "run", tmp_path / "ref.log")
        assert await proc.wait() == EXIT, (tmp_path / "ref.log").read_text()[-3000:]

        recipe = write_recipe(tmp_path / "killed", server.base_url, native)
        run = tmp_path / "killed" / "run"
        logs = []
        moments = [(0, 0.4), (1, 0.0), (3, 0.3), (6, 0.05), (10, 0.2)]
        seen = []
        for index, (at, extra) in enumerate(moments):
            logs.append(tmp_path / f"session{index}.log")
            await kill_when(await start(recipe, run, logs[-1]), run, at, extra)
            seen.append(journal_commits(run))
        logs.append(tmp_path / "final.log")
        proc = await start(recipe, run, logs[-1])
        assert await proc.wait() == EXIT, logs[-1].read_text()[-3000:]

    total = journal_commits(run)
    print(f"\ncommits after each kill: {seen}, at the end: {total}")
    assert len({c for c in seen if 0 < c < total}) >= 2, "the kills did not land mid-run"
    expected = outcomes(tmp_path / "reference" / "run")
    assert len(expected) == PROBLEMS * TRACES
    assert outcomes(run) == expected  # the same traces, ids and verdicts, each once
    for row in shard_rows(run, "accepted"):
        assert row["meta"]["difficulty"]["traces"] == TRACES
    paid = paid_answers(logs)  # fails if an answer received before a kill was bought again
    assert len(paid) <= (PROBLEMS if native else PROBLEMS * TRACES)
