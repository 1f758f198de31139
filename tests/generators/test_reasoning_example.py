"""examples/reasoning_math.yaml: on the fake OpenAI-compatible server through the command line
with only teacher settings changed, and on the embedded SmolLM2 model (a weak teacher: the
assertions are about structure and bookkeeping, never about its wording)."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE, STDOUT
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from generators.reasoning_script import trace
from teachkit.engine import read_accepted, run_async
from teachkit.generators.base import Generator
from teachkit.recipe.load import load_recipe
from teachkit.rundir.store import read_rejected
from teachkit.testing import FakeCall, FakeServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reasoning_math.yaml"
DONE = "complete" if hasattr(Generator, "complete_when_exhausted") else "exhausted"


def check_bookkeeping(run: Path, problems: int, traces: int) -> list[dict[str, Any]]:
    """Every trace once, each problem's pass rate equal to its traces' verdicts, nothing tagged."""
    accepted = list(read_accepted(run))
    rejected = list(read_rejected(run))
    rows = [(r, True) for r in accepted] + [(x.record, False) for x in rejected]
    by_problem: dict[str, list[Any]] = defaultdict(list)
    for record, kept in rows:
        meta = record.meta
        assert meta["passed"] == kept == (meta["outcome"] == "passed")
        assert "<think>" not in record.assistant and "</think>" not in (record.reasoning or "")
        assert record.user.startswith(meta["problem"])
        by_problem[meta["problem_id"]].append(meta)
    assert len(by_problem) == problems
    for metas in by_problem.values():
        assert sorted(m["trace_index"] for m in metas) == list(range(traces))
        passed = sum(m["passed"] for m in metas)
        assert {m["difficulty"]["passed"] for m in metas} == {passed}
        assert {m["difficulty"]["pass_rate"] for m in metas} == {round(passed / traces, 4)}
    reasons = {x.reason for x in rejected}
    assert reasons <= {"truncated", "repetition", "mixed_language", "no_answer", "no_reasoning",
                       "wrong_answer", "unparseable_answer", "timeout", "duplicate_id"}  # fmt: skip
    return [meta for metas in by_problem.values() for meta in metas]


def answer(call: FakeCall) -> str | None:
    if "Please reason step by step" not in call.prompt:
        return None
    return trace("correct" if call.index % 2 == 0 else "wrong", 3, 4)  # 7: right for none


async def test_the_example_on_a_server_with_only_teacher_settings_changed(tmp_path: Path) -> None:
    async with FakeServer(answer) as server:
        args = [
            "-m", "teachkit", "run", str(EXAMPLE), "--out", str(tmp_path / "run"), "-q",
            "--set", "teacher.backend=openai", "--set", "teacher.model=fake",
            "--set", f"teacher.base_url={server.base_url}",
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=PIPE, stderr=STDOUT
        )
        output, _ = await proc.communicate()
    assert proc.returncode == (0 if DONE == "complete" else 9), output.decode()[-3000:]
    metas = check_bookkeeping(tmp_path / "run", problems=3, traces=4)
    assert all(m["sampling"]["n"] == 4 for m in metas)  # native n on this server
    assert {m["outcome"] for m in metas} == {"wrong_answer"}  # 7 is no problem's answer


@pytest.mark.slow
async def test_the_example_on_the_embedded_teacher(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    recipe = load_recipe(
        EXAMPLE,
        [
            "generator.problems.limit=2",
            "generator.traces=2",
            "teacher.sampling.max_tokens=64",
        ],
    )
    summary = await run_async(recipe, out=tmp_path / "run")
    assert summary.status == DONE, summary.message
    metas = check_bookkeeping(tmp_path / "run", problems=2, traces=2)
    stats = summary.manifest["generator"]
    assert stats["traces"] == 4 == summary.accepted + summary.rejected
    assert stats["mode"] == "one request per trace"  # llama.cpp draws one choice per request
    assert all(m["teacher"]["backend"] == "llamacpp" and m["sampling"]["n"] == 1 for m in metas)
    assert sum(stats["outcomes"].values()) == 4
    print(f"\n{sys.argv[0]}: outcomes {stats['outcomes']}")
