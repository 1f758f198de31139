"""Self-Instruct and Alpaca through the engine: the fake server with scripted lists, and the
embedded teacher with the 175 real seed tasks."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from teachkit.engine import read_accepted, run_async
from teachkit.engine.api import RunSummary
from teachkit.recipe.load import load_recipe
from teachkit.testing import FakeCall, FakeServer

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "self-instruct"
REAL_SEEDS = str((SEEDS / "seed_tasks.jsonl").resolve())
WORDS = ["river", "stone", "garden", "lantern", "harbor", "meadow", "copper", "signal"]
WORDS += ["orchard", "compass", "ledger", "canyon", "thread", "violet", "maple", "harvest"]


async def run_recipe(recipe: dict[str, Any], tmp_path: Path) -> RunSummary:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return await run_async(load_recipe(path, allow_paths=[SEEDS]), out=tmp_path / "run")


def fresh(prompt: str, salt: int) -> str:
    """A new instruction, different for every prompt and salt."""
    digest = hashlib.sha256(f"{prompt}{salt}".encode()).digest()
    return "Write a riddle about " + " ".join(WORDS[b % len(WORDS)] for b in digest[:7]) + "."


def self_instruct_answers(call: FakeCall) -> str:
    prompt = call.prompt
    if "Is it classification?" in prompt:
        return " Yes" if len(prompt.rsplit("Task:", 1)[1]) % 2 else " No"
    if prompt.startswith("Given a classification task"):
        return "Class label: Easy\nRiddle: What has keys?\nClass label: Hard\nRiddle: What runs?"
    if prompt.startswith("Come up with examples"):
        return (
            "Example 1\nInput: one\nOutput: two\n"
            "Example 2\nInput: same\nOutput: same\n"  # input equals output
            "Example 3\nInput: three\nOutput:"  # empty output
        )
    listed = re.findall(r"^\d+\. (.+)$", prompt, flags=re.M)
    items = [  # items 9 to 16: one per instruction filter; the stop sequence cuts item 16
        fresh(prompt, 1),
        listed[0],  # a copy of a listed instruction: ROUGE-L 1.0
        "Say hi there.",
        "Explain " + "very " * 150 + "slowly.",
        "Describe the image in detail please.",
        "Write a program that adds two numbers.",
        "(Optional) list three colours you like."
        if len(prompt) % 2
        else "Écris trois phrases courtes.",
        "This item is cut off by the stop sequence.",
    ]
    return " " + "\n".join(f"{9 + i}. {t}" if i else t for i, t in enumerate(items))


async def test_self_instruct_exercises_every_filter_and_the_instance_stage(
    tmp_path: Path,
) -> None:
    async with FakeServer(self_instruct_answers) as server:
        summary = await run_recipe(
            {
                "name": "si-fake",
                "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
                "generator": {"kind": "self_instruct", "count": 12, "seeds": REAL_SEEDS},
            },
            tmp_path,
        )
    assert summary.status == "complete", summary.message
    records = list(read_accepted(tmp_path / "run"))
    assert len(records) == 12 and len({r.id for r in records}) == 12
    dropped = summary.manifest["generator"]["dropped"]
    for reason in (
        "too_short", "too_long", "blacklisted_word", "write_a_program", "starts_with_punctuation",
        "starts_with_non_ascii", "too_similar", "input_equals_output", "empty_output",
    ):  # fmt: skip
        assert dropped.get(reason, 0) > 0, reason
    assert summary.drops["rouge_l"]["too_similar"] == dropped["too_similar"]
    assert {r.meta["is_classification"] for r in records} == {True, False}
    assert all(r.meta["instruction"].startswith("Write a riddle about") for r in records)
    assert all(len(r.meta["parents"]) == 8 for r in records)


async def test_self_instruct_chat_mode(tmp_path: Path) -> None:
    def chat(call: FakeCall) -> str:
        text = self_instruct_answers(call)
        if "Continue the numbered list" in call.prompt:
            return "Here are more tasks:\n\n9." + text + "\n\nHope these help!"
        return text

    async with FakeServer(chat) as server:
        summary = await run_recipe(
            {
                "name": "si-chat",
                "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
                "generator": {
                    "kind": "self_instruct",
                    "count": 6,
                    "seeds": REAL_SEEDS,
                    "mode": "chat",
                },
            },
            tmp_path,
        )
    assert summary.status == "complete", summary.message
    assert summary.manifest["generator"]["dropped"]["too_similar"] > 0
    records = list(read_accepted(tmp_path / "run"))
    assert not any("Hope" in r.meta["instruction"] for r in records)


def alpaca_answers(call: FakeCall) -> str:
    items = [
        f"{n}. Instruction: {fresh(call.prompt, n)}\n{n}. Input:\n<noinput>\n"
        f"{n}. Output:\nA riddle.\n"
        for n in range(4, 20)
    ]
    items[2] = items[2].replace("Write a riddle", "Compose music")
    return "###\n".join(items)[len("4. Instruction:") :]


async def test_alpaca_with_the_novelty_filter_and_a_resume(tmp_path: Path) -> None:
    async with FakeServer(alpaca_answers) as server:
        recipe = {
            "name": "alpaca-fake",
            "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
            "generator": {"kind": "alpaca", "count": 30, "seeds": REAL_SEEDS},
            "filters": [{"kind": "novelty", "against": REAL_SEEDS}],
        }
        summary = await run_recipe(recipe, tmp_path)
        again = await run_recipe(recipe, tmp_path)
    assert summary.status == "complete", summary.message
    assert again.accepted == 30
    records = list(read_accepted(tmp_path / "run"))
    assert len(records) == 30 and len({r.id for r in records}) == 30
    assert summary.manifest["generator"]["dropped"]["blacklisted_word"] > 0
    assert all(r.meta["scores"]["rouge_l_max"] <= 0.7 for r in records)


@pytest.mark.slow
async def test_embedded_teacher_with_the_real_seeds(tmp_path: Path) -> None:
    """SmolLM2-135M on the 175 seeds; short answers keep it quick (many lists are cut by the
    token limit and dropped whole, so usually several list prompts are sent)."""
    pytest.importorskip("llama_cpp")
    summary = await run_recipe(
        {
            "name": "si-embedded",
            "teacher": {"backend": "llamacpp", "max_concurrency": 1},
            "generator": {
                "kind": "self_instruct",
                "count": 3,
                "seeds": REAL_SEEDS,
                "max_tokens": 80,
                "instance_max_tokens": 48,
            },
            "run": {"max_requests": 8},
        },
        tmp_path,
    )
    stats = summary.manifest["generator"]
    assert stats["prompts"] >= 1 and stats["instructions"]["kept"] > 0, stats
    assert summary.status in ("complete", "incomplete"), summary.message
    records = list(read_accepted(tmp_path / "run"))
    assert summary.accepted == len(records) > 0
    assert all(r.meta["generator"] == "self_instruct" and r.assistant for r in records)
