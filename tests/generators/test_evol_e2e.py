"""Evol-Instruct on the embedded SmolLM2-135M-Instruct. The model is weak (most evolutions are
eliminated), so only structure and bookkeeping are checked, never its wording."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from support import shard_rows
from teachkit.engine import read_accepted, run_async
from teachkit.generators.instruct.evol_prompts import OPERATIONS
from teachkit.recipe.load import load_recipe

REASONS = {"empty_evolution", "truncated_evolution", "copied_prompt_words", "no_information_gain",
           "hard_to_answer", "answer_only_stopwords", "truncated_answer"}  # fmt: skip


@pytest.mark.slow
async def test_lineages_on_the_embedded_teacher(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    recipe = {
        "name": "evol-embedded",
        "teacher": {"backend": "llamacpp", "max_concurrency": 1, "options": {"n_threads": 1}},
        "generator": {
            "kind": "evol_instruct",
            "count": 2,
            "rounds": 2,
            "max_tokens": 64,
            "answer_max_tokens": 64,
        },
        "run": {"max_requests": 4},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    summary = await run_async(load_recipe(path), out=tmp_path / "run")
    assert summary.status in ("complete", "incomplete", "exhausted"), summary.message
    stats = summary.manifest["generator"]
    assert 1 <= stats["lineages_started"] <= 4
    assert set(stats["evolutions"]) <= set(OPERATIONS) and sum(stats["evolutions"].values()) >= 1

    rows = shard_rows(tmp_path / "run", "rejected")
    records = list(read_accepted(tmp_path / "run"))
    # every evolution that finished left exactly one record: accepted, or rejected with a reason
    assert {row["reason"] for row in rows if row["filter"] == "evol_instruct"} <= REASONS
    jobs = [r.meta["job"] for r in records] + [row["record"]["meta"]["job"] for row in rows]
    assert len(jobs) == len(set(jobs))
    for meta in [r.meta for r in records] + [row["record"]["meta"] for row in rows]:
        if meta.get("stage") in ("evolve", "equal", "answer"):
            rounds = [step["round"] for step in meta["evolution"]]
            assert rounds == sorted(set(rounds)) and rounds[-1] == meta["round"] <= 2
            assert meta["depth"] == meta["round"]
            assert meta["job"].startswith(f"evol:{meta['lineage']:06d}:r{meta['round']}:")
    for record in records:
        assert record.user == record.meta["evolution"][-1]["instruction"] and record.assistant
