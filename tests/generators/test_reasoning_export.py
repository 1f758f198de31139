"""A reasoning run exported: TRL rows with the think template chosen at export, verified only or
mixed, the OpenR1 layout (one row per problem) in Parquet, and a problem's traces kept on one side
of the train/validation split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
import yaml

from generators.reasoning_script import (
    MAX_TOKENS,
    ReasoningTeacher,
    expected_counts,
    write_problems,
)
from teachkit.engine import read_accepted, run_async
from teachkit.engine.export import export
from teachkit.formats.export import export_records
from teachkit.formats.reasoning import OPENR1
from teachkit.recipe.export import ExportSpec
from teachkit.recipe.load import load_recipe
from teachkit.rundir.store import read_rejected
from teachkit.testing import FakeServer

PROBLEMS, TRACES = 6, 4


async def make_run(tmp_path: Path, keep: str) -> Path:
    write_problems(tmp_path / "problems.jsonl", PROBLEMS)
    async with FakeServer(ReasoningTeacher()) as server:
        data = {
            "name": "reasoning-export",
            "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url,
                        "sampling": {"max_tokens": MAX_TOKENS}},
            "generator": {"kind": "reasoning", "count": 1000, "traces": TRACES, "keep": keep,
                          "problems": {"file": "problems.jsonl", "preset": "gsm8k"}},
        }  # fmt: skip
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
        await run_async(load_recipe(tmp_path / "recipe.yaml"), out=tmp_path / "run")
    return tmp_path / "run"


def lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


async def test_trl_rows_with_the_think_template_verified_and_mixed(tmp_path: Path) -> None:
    run = await make_run(tmp_path, keep="all")
    expected = expected_counts(PROBLEMS, TRACES)["outcomes"]

    out = tmp_path / "verified"
    summary = export(run, out, format="reasoning", val_fraction=0.25, seed=0)
    rows = lines(out / "train.jsonl") + lines(out / "validation.jsonl")
    assert summary.train + summary.validation == len(rows) == expected["passed"]
    assert summary.skipped_invalid == PROBLEMS * TRACES - expected["passed"]
    for row in rows:
        answer = row["messages"][-1]["content"]  # type: ignore[index]
        assert answer.startswith("<think>\n") and "\n</think>\n\n" in answer
    # a problem's traces never straddle train and validation
    sides: dict[object, set[object]] = {}
    for meta in lines(out / "metadata.jsonl"):
        sides.setdefault(meta["group"], set()).add(meta["split"])
    assert all(len(s) == 1 for s in sides.values()) and len(sides) > 1

    mixed = export(run, tmp_path / "mixed", format="reasoning_mixed", val_fraction=0.0)
    rows = lines(tmp_path / "mixed" / "train.jsonl")
    # every trace with a reasoning and an answer makes a row (the empty ones cannot)
    assert Counter(r["outcome"] for r in rows) == {
        k: v for k, v in expected.items() if k not in ("truncated", "no_answer")
    }
    assert mixed.skipped_invalid == expected["truncated"] + expected["no_answer"]
    assert {r["verified"] for r in rows} == {True, False}

    export(run, tmp_path / "content", format="reasoning_content", val_fraction=0.0)
    (first, *_) = lines(tmp_path / "content" / "train.jsonl")
    assert "<think>" not in first["messages"][-1]["content"]  # type: ignore[index]
    assert first["messages"][-1]["reasoning_content"]  # type: ignore[index]


async def test_the_openr1_layout_one_row_per_problem_in_parquet(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    run = await make_run(tmp_path, keep="verified")
    # every generation: the accepted traces and the rejected ones
    traces = [
        *read_accepted(run),
        *(r.record for r in read_rejected(run) if r.filter == "reasoning"),
    ]
    spec = ExportSpec(format="openr1", file_format="parquet", val_fraction=0.0)
    summary = export_records(OPENR1.gather(traces), tmp_path / "openr1", spec)
    assert summary.train == PROBLEMS
    table = pq.read_table(tmp_path / "openr1" / "train.parquet").to_pylist()
    assert {row["uuid"] for row in table} == {f"p{p:06d}" for p in range(PROBLEMS)}
    for row in table:
        assert len(row["generations"]) == len(row["finish_reasons"]) == TRACES
        assert row["correctness_count"] == sum(row["verified"])
        assert row["pass_rate"] == row["correctness_count"] / TRACES
        assert all(g.startswith("<think>\n") for g in row["generations"])
        answer = str(4 * int(row["uuid"][1:]) + 3)
        assert row["answer"] == answer and row["solution"].endswith(f"#### {answer}")
    total = Counter(o for row in table for o in row["outcomes"])
    assert total == expected_counts(PROBLEMS, TRACES)["outcomes"]
