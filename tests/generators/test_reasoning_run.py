"""The reasoning generator through the engine and the fake server: exact verdict counts, native
``n`` and one request per trace, keep: all, the judge as a second opinion, failures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.reasoning_script import (
    KINDS,
    MAX_TOKENS,
    ReasoningTeacher,
    expected_counts,
    expected_pass_rate,
    kind,
    write_problems,
)
from teachkit.engine import read_accepted, run_async
from teachkit.engine.api import RunSummary
from teachkit.generators.base import Generator
from teachkit.recipe.load import load_recipe
from teachkit.records import Record
from teachkit.rundir.store import read_rejected
from teachkit.testing import FakeServer, FaultPlan

PROBLEMS = 6
TRACES = 4
#: a run over a fixed problem list ends "complete" where the engine knows such sources
DONE = "complete" if hasattr(Generator, "complete_when_exhausted") else "exhausted"


def recipe(server: FakeServer, *, native: bool = True, **generator: Any) -> dict[str, Any]:
    return {
        "name": "reasoning-fake",
        "teacher": {
            "backend": "openai",
            "model": "fake",
            "base_url": server.base_url,
            "options": {"supports_n": native},
            "sampling": {"max_tokens": MAX_TOKENS},
        },
        "generator": {
            "kind": "reasoning",
            "count": 1000,
            "problems": {"file": "problems.jsonl", "preset": "gsm8k"},
            "traces": TRACES,
            **generator,
        },
    }


async def run(data: dict[str, Any], tmp_path: Path, problems: int = PROBLEMS) -> RunSummary:
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_problems(tmp_path / "problems.jsonl", problems)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return await run_async(load_recipe(path), out=tmp_path / "run")


def traces_of(run_dir: Path) -> tuple[list[Record], list[Record], Counter[str]]:
    accepted = list(read_accepted(run_dir))
    rejections = list(read_rejected(run_dir))
    reasons = Counter(r.reason for r in rejections)
    return accepted, [r.record for r in rejections], reasons


@pytest.mark.parametrize("native", [True, False], ids=["native-n", "one-request-per-trace"])
async def test_every_trace_is_kept_with_exact_verdicts(tmp_path: Path, native: bool) -> None:
    teacher = ReasoningTeacher()
    async with FakeServer(teacher, ignore_n=not native) as server:
        summary = await run(recipe(server, native=native), tmp_path)
        calls = server.calls
    assert summary.status == DONE, summary.message
    assert calls == (PROBLEMS if native else PROBLEMS * TRACES)
    expected = expected_counts(PROBLEMS, TRACES)
    accepted, rejected, reasons = traces_of(tmp_path / "run")

    # what is kept is exactly what the verifier passed and nothing flagged
    assert len(accepted) == expected["outcomes"]["passed"]
    assert all(r.meta["passed"] and r.meta["outcome"] == "passed" for r in accepted)
    assert all(r.meta["verdicts"]["math"]["passed"] and not r.meta["flags"] for r in accepted)
    assert reasons == {k: v for k, v in expected["outcomes"].items() if k != "passed"}
    assert summary.drops == {"reasoning": dict(reasons)}

    # every trace of every problem is there once, with its kind's flags and verdict
    records = accepted + rejected
    keys = [(r.meta["problem_id"], r.meta["trace_index"]) for r in records]
    assert len(keys) == len(set(keys)) == PROBLEMS * TRACES
    for record in records:
        p, t = int(record.meta["problem_id"][1:]), record.meta["trace_index"]
        outcome = record.meta["outcome"]
        assert outcome == {"correct": "passed", "plain": "passed"}.get(kind(p, t), outcome)
        assert record.meta["difficulty"]["pass_rate"] == expected_pass_rate(p, TRACES)
        assert record.meta["difficulty"]["traces"] == TRACES
        assert record.meta["answer"] == str(4 * p + 3)
        assert "<think>" not in record.assistant and "</think>" not in (record.reasoning or "")
    stats = summary.manifest["generator"]
    assert stats["verdicts"] == dict(expected["verdicts"])
    assert stats["flags"] == dict(expected["flags"])
    assert stats["problems"] == PROBLEMS and stats["traces"] == PROBLEMS * TRACES
    assert stats["mode"] == ("n" if native else "one request per trace")

    # the think tags are parsed away; the model's own structure splits a tagless trace
    plain = next(r for r in accepted if r.meta["structure"] == "marker")
    assert plain.assistant.startswith("Final answer:") and "She gets" in (plain.reasoning or "")
    think = next(r for r in accepted if r.meta["structure"] == "think")
    assert think.assistant.startswith("Ann has \\boxed{") and think.reasoning
    assert think.meta["sampling"]["temperature"] == 0.6 and think.meta["sampling"]["top_p"] == 0.95


async def test_both_request_modes_make_the_same_records(tmp_path: Path) -> None:
    ids = []
    for native in (True, False):
        async with FakeServer(ReasoningTeacher(), ignore_n=not native) as server:
            await run(recipe(server, native=native), tmp_path / str(native))
        accepted, rejected, _ = traces_of(tmp_path / str(native) / "run")
        ids.append(sorted(r.id for r in accepted + rejected))
    assert ids[0] == ids[1]


async def test_a_recipe_sampling_value_wins_and_a_second_run_pays_nothing(tmp_path: Path) -> None:
    async with FakeServer(ReasoningTeacher()) as server:
        data = recipe(server)
        data["teacher"]["sampling"]["temperature"] = 1.0
        first = await run(data, tmp_path)
        server.reset()
        again = await run(data, tmp_path)
        assert server.calls == 0
    assert again.accepted == first.accepted
    body_options = next(iter(read_accepted(tmp_path / "run"))).meta["sampling"]
    assert body_options["temperature"] == 1.0 and body_options["top_p"] == 0.95


async def test_keep_all_accepts_every_trace_with_its_outcome(tmp_path: Path) -> None:
    async with FakeServer(ReasoningTeacher()) as server:
        summary = await run(recipe(server, keep="all"), tmp_path)
    accepted, rejected, _ = traces_of(tmp_path / "run")
    assert not rejected and len(accepted) == PROBLEMS * TRACES == summary.accepted
    outcomes = Counter(r.meta["outcome"] for r in accepted)
    assert outcomes == expected_counts(PROBLEMS, TRACES)["outcomes"]


async def test_the_judge_is_a_second_opinion_and_disagreements_are_recorded(
    tmp_path: Path,
) -> None:
    teacher = ReasoningTeacher()  # an over-lenient judge: 8 for everything
    async with FakeServer(teacher) as server:
        summary = await run(recipe(server, judge={"threshold": 7}), tmp_path)
    accepted, rejected, reasons = traces_of(tmp_path / "run")
    # only problems with an unflagged trace are judged, one request each
    graded = {p for p in range(PROBLEMS) for t in range(TRACES) if kind(p, t) in KINDS[:3]}
    assert len(teacher.judge_prompts) == len(graded)
    assert len(accepted) == expected_counts(PROBLEMS, TRACES)["outcomes"]["passed"]
    judged = [r for r in accepted + rejected if "judge" in r.meta["verdicts"]]
    assert {kind(int(r.meta["problem_id"][1:]), r.meta["trace_index"]) for r in judged} == set(
        KINDS[:3]
    )
    wrong = [r for r in judged if r.meta["outcome"] == "wrong_answer"]
    assert wrong and all(
        r.meta["verdicts"]["judge"]
        == {**r.meta["verdicts"]["judge"], "passed": True, "agrees": False}
        for r in wrong
    )
    assert summary.manifest["generator"]["judge"]["disagreements"] == len(wrong)
    assert reasons["wrong_answer"] == len(wrong)  # the verifier decides, the judge only records


async def test_a_judge_with_a_veto_rejects_what_it_fails(tmp_path: Path) -> None:
    teacher = ReasoningTeacher(judge_score=lambda solution: 8 if "\\boxed" in solution else 2)
    async with FakeServer(teacher) as server:
        await run(recipe(server, judge={"veto": True}), tmp_path)
    accepted, _rejected, reasons = traces_of(tmp_path / "run")
    assert accepted and all(r.meta["structure"] == "think" for r in accepted)
    plain = sum(kind(p, t) == "plain" for p in range(PROBLEMS) for t in range(TRACES))
    assert reasons["judge_rejected"] == plain


async def test_a_failed_trace_request_is_kept_and_the_problem_goes_on(tmp_path: Path) -> None:
    async with FakeServer(
        ReasoningTeacher(), ignore_n=True, faults=FaultPlan(first=("ok", "500"))
    ) as server:
        data = recipe(server, native=False)
        data["teacher"]["max_retries"] = 0
        await run(data, tmp_path, problems=1)
    accepted, rejected, reasons = traces_of(tmp_path / "run")
    failed = [r for r in rejected if "trace_index" not in r.meta]
    assert len(failed) == 1 and failed[0].meta["problem_id"] == "p000000"
    traces = [r for r in accepted + rejected if "trace_index" in r.meta]
    assert len(traces) == TRACES - 1
    assert {r.meta["difficulty"]["traces"] for r in traces} == {TRACES - 1}
    assert sum(reasons.values()) == len(rejected)


async def test_an_unreadable_judge_is_recorded_and_the_verifier_still_decides(
    tmp_path: Path,
) -> None:
    teacher = ReasoningTeacher()

    def script(call: Any) -> str | None:
        return "I would rather not grade." if "Solution 1:" in call.prompt else teacher(call)

    async with FakeServer(script) as server:
        summary = await run(recipe(server, judge={}), tmp_path)
    accepted, rejected, _ = traces_of(tmp_path / "run")
    assert len(accepted) == expected_counts(PROBLEMS, TRACES)["outcomes"]["passed"]
    judged = [
        r.meta["verdicts"]["judge"] for r in accepted + rejected if "judge" in r.meta["verdicts"]
    ]
    assert judged and all(j == {"error": "judge_unparseable"} for j in judged)
    assert summary.manifest["generator"]["judge"] == {"judge_unparseable": len(judged)}
