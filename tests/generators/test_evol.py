"""Evol-Instruct on the fake server: operations picked with the seeded generator, each elimination
rule with its reason, rounds and evolution chains, seeds from another run, and a resume."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from support import shard_rows
from teachkit.engine import read_accepted, run_async
from teachkit.engine.api import RunSummary
from teachkit.errors import DataError
from teachkit.generators.instruct.evol_prompts import (
    DEPTH_METHODS,
    OPERATIONS,
    copied_phrase,
    equality_verdict,
    evolve_prompt,
    hard_to_answer,
    only_stop_words,
)
from teachkit.recipe.load import load_recipe
from teachkit.testing import FakeCall, FakeServer

SEEDS = [
    "Describe the sun.",
    "COPY ME",  # the evolution copies "#Rewritten Prompt#"
    "EQUAL ME",  # the judge says Equal
    "SORRY ME",  # the answer is a short apology
    "STOP ME",  # the answer is stop words only
    "EMPTY ME",  # the evolution is empty
]
_GIVEN = re.compile(r"#(?:The )?Given Prompt#:\n(.*)\n#(?:Rewritten|Created) Prompt#:", re.S)


def operation_of(prompt: str) -> str:
    if "#Created Prompt#" in prompt:
        return "breadth"
    return next(op for op, line in DEPTH_METHODS.items() if line in prompt)


class Teacher:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, call: FakeCall) -> str:
        self.bodies.append(call.body)
        prompt = call.prompt
        found = _GIVEN.search(prompt)
        if found is not None:  # an evolving prompt
            given = found[1]
            if given.startswith("EMPTY"):
                return "   "
            if given.startswith("COPY"):
                return f"#Rewritten Prompt#: {given} harder"
            return f"{given} Then {operation_of(prompt)}."
        if "Your Judgement" in prompt:
            return "Equal" if "The First Prompt: EQUAL" in prompt else "Not Equal"
        if prompt.startswith("SORRY"):
            return "I'm sorry, I cannot help with that."
        if prompt.startswith("STOP"):
            return "The, and of it... is!"
        return f"A full answer about: {prompt}"


def write_seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(orjson.dumps({"instruction": s}).decode() + "\n" for s in SEEDS))
    return path


async def run_recipe(recipe: dict[str, Any], path: Path, out: Path) -> RunSummary:
    path.write_text(yaml.safe_dump(recipe))
    return await run_async(load_recipe(path), out=out)


def evol_recipe(server: FakeServer, seeds: Any, **generator: Any) -> dict[str, Any]:
    return {
        "name": "evol-fake",
        "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
        "generator": {"kind": "evol_instruct", "count": 100, "seeds": seeds, **generator},
    }


async def test_rounds_chains_and_every_elimination_rule(tmp_path: Path) -> None:
    teacher = Teacher()
    async with FakeServer(teacher) as server:
        summary = await run_recipe(
            evol_recipe(server, str(write_seeds(tmp_path)), rounds=3),
            tmp_path / "recipe.yaml",
            tmp_path / "run",
        )
    assert summary.status == "exhausted", summary.message  # 6 seeds x 3 rounds, fewer than 100
    records = sorted(read_accepted(tmp_path / "run"), key=lambda r: r.meta["round"])
    assert [r.meta["round"] for r in records] == [1, 2, 3]
    assert [r.meta["depth"] for r in records] == [1, 2, 3]
    text = "Describe the sun."
    for record in records:  # each round evolves the previous round's survivor
        operation = random.Random(f"0:evol:0:{record.meta['round']}").choice(OPERATIONS)
        assert record.meta["operation"] == operation
        assert record.meta["parent_instruction"] == text
        text = f"{text} Then {operation}."
        assert record.user == text
        assert record.assistant == f"A full answer about: {text}"
        assert record.meta["job"] == f"evol:000000:r{record.meta['round']}:{operation}:answer"
        assert record.meta["evolving"] == ("in-breadth" if operation == "breadth" else "in-depth")
    assert [step["instruction"] for step in records[-1].meta["evolution"]] == [
        r.user for r in records
    ]
    assert [step["round"] for step in records[-1].meta["evolution"]] == [1, 2, 3]

    rejected = shard_rows(tmp_path / "run", "rejected")
    by_seed: dict[str, list[dict[str, Any]]] = {}
    for row in rejected:
        by_seed.setdefault(row["record"]["meta"]["seed_instruction"], []).append(row)
    expected = {
        "COPY ME": "copied_prompt_words",
        "EQUAL ME": "no_information_gain",
        "SORRY ME": "hard_to_answer",
        "STOP ME": "answer_only_stopwords",
        "EMPTY ME": "empty_evolution",
    }
    for seed, reason in expected.items():
        rows = by_seed[seed]
        assert [row["reason"] for row in rows] == [reason] * 3, seed
        assert sorted(row["detail"]["round"] for row in rows) == [1, 2, 3]
        # a failed evolution puts the instruction back as it was
        assert {row["record"]["meta"]["parent_instruction"] for row in rows} == {seed}
        assert all(row["filter"] == "evol_instruct" for row in rows)
    assert by_seed["COPY ME"][0]["detail"]["phrase"] == "#Rewritten Prompt#"
    assert by_seed["SORRY ME"][0]["detail"]["words"] < 80
    stats = summary.manifest["generator"]
    assert stats["eliminated"] == {reason: 3 for reason in expected.values()}
    assert stats["accepted_per_round"] == {"1": 1, "2": 1, "3": 1}
    # every request carries the original's system turn and sampling
    evolving = [b for b in teacher.bodies if _GIVEN.search(b["messages"][-1]["content"])]
    assert len(evolving) == 18
    assert all(b["messages"][0]["content"] == "You are a helpful assistant." for b in evolving)
    assert all(b["temperature"] == 1.0 and b["top_p"] == 0.95 for b in evolving)


async def test_without_the_equality_judge_and_a_resume_that_pays_nothing(tmp_path: Path) -> None:
    teacher = Teacher()
    async with FakeServer(teacher) as server:
        config = evol_recipe(
            server, str(write_seeds(tmp_path)), rounds=2, count=3, judge_equality=False
        )
        first = await run_recipe(config, tmp_path / "recipe.yaml", tmp_path / "run")
        sent = len(teacher.bodies)
        again = await run_recipe(config, tmp_path / "recipe.yaml", tmp_path / "run")
    assert first.status == "complete", first.message
    assert not any("Your Judgement" in b["messages"][-1]["content"] for b in teacher.bodies)
    # EQUAL ME survives now: nothing asks whether it is equal
    assert {r.meta["seed_instruction"] for r in read_accepted(tmp_path / "run")} <= {
        "Describe the sun.",
        "EQUAL ME",
    }
    assert again.accepted == 3 and len(teacher.bodies) == sent


async def test_seeds_from_another_run_continue_their_chains(tmp_path: Path) -> None:
    teacher = Teacher()
    async with FakeServer(teacher) as server:
        await run_recipe(
            evol_recipe(server, str(write_seeds(tmp_path)), rounds=1),
            tmp_path / "first.yaml",
            tmp_path / "first",
        )
        summary = await run_recipe(
            evol_recipe(server, {"run": "first"}, rounds=1),
            tmp_path / "second.yaml",
            tmp_path / "second",
        )
    (parent,) = read_accepted(tmp_path / "first")
    (child,) = read_accepted(tmp_path / "second")
    assert summary.manifest["generator"]["seeds"] == 1
    assert child.meta["round"] == 2 and child.meta["depth"] == 2
    assert child.meta["evolution"][0] == parent.meta["evolution"][0]
    assert child.meta["parent_instruction"] == parent.user
    assert child.meta["seed"] == parent.id


def test_seeds_from_a_run_that_did_not_finish_are_refused(tmp_path: Path) -> None:
    from teachkit.generators.instruct.evol_seeds import RunSeeds, load_evol_seeds

    run = tmp_path / "run"
    (run / "accepted").mkdir(parents=True)
    (run / "manifest.json").write_text('{"status": "running"}')
    with pytest.raises(DataError, match="killed before it finished"):
        load_evol_seeds(RunSeeds(run="run"), tmp_path)
    with pytest.raises(DataError, match="not a teachkit run directory"):
        load_evol_seeds(RunSeeds(run="elsewhere"), tmp_path)


def test_elimination_rules() -> None:
    assert equality_verdict("Not Equal.") is False
    assert equality_verdict(" equal") is True
    assert equality_verdict("They differ.") is None
    assert copied_phrase("Here is the rewritten prompt: do X") == "rewritten prompt"
    assert copied_phrase("Write a poem about prompts.") is None
    assert hard_to_answer("Sorry, I can't.") and not hard_to_answer("sorry " * 80)
    assert only_stop_words("The... and, of!") and only_stop_words("")
    assert not only_stop_words("The sun is a star.")
    prompt = evolve_prompt("deepen", "Why is the sky blue?")
    assert DEPTH_METHODS["deepen"] in prompt and prompt.endswith(
        "#The Given Prompt#:\nWhy is the sky blue?\n#Rewritten Prompt#:\n"
    )
    assert evolve_prompt("breadth", "X").endswith("#Given Prompt#:\nX\n#Created Prompt#:\n")


def test_the_example_recipe_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "evol_instruct.yaml"
    recipe = load_recipe(example)
    assert recipe.generator is not None and recipe.generator.kind == "evol_instruct"
    assert recipe.teacher.backend == "llamacpp"
