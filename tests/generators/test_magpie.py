"""Magpie on the fake server: the raw-completion requests carry the derived pre-query template and
stop tokens, requests are sanitised and dropped with their reasons, and each conversation is an
instruction job then a response job (per turn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support import shard_rows
from teachkit.engine import read_accepted, run_async
from teachkit.engine.api import RunSummary
from teachkit.errors import RecipeError
from teachkit.generators.base import GeneratorContext
from teachkit.generators.magpie import MT_SYSTEM_PROMPT, MagpieSpec
from teachkit.generators.magpie_sanitize import sanitize
from teachkit.generators.magpie_template import FAMILIES, ConversationTemplate
from teachkit.recipe.load import load_recipe
from teachkit.teachers.backend import Capabilities, ChatTemplate
from teachkit.testing import FakeCall, FakeServer

PRE_QUERY = "<|im_start|>user\n"
STOP = ["<|im_end|>", "<|im_start|>", "\n"]

#: what the "model" writes after the pre-query template, per conversation (= the seed sent)
RAW = {
    0: "  How do rainbows form?",
    1: "User: What is the capital of Peru?",
    2: "Here is my question:",
    3: "",
    4: " ".join(["word"] * 30),  # past max_tokens: finish_reason length
    5: "**Question:** Why do cats purr?\nCats purr when ...",  # the fake applies the stop "\n"
    6: "1. Task: Name three prime numbers. Answer: 2, 3, 5",
}


async def run_recipe(recipe: dict[str, Any], tmp_path: Path) -> RunSummary:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return await run_async(load_recipe(path), out=tmp_path / "run")


class Model:
    """Answers raw completions from RAW (or a follow-up request) and chat with a reply naming
    the request; remembers every request body."""

    def __init__(self) -> None:
        self.completions: list[dict[str, Any]] = []
        self.chats: list[dict[str, Any]] = []

    def __call__(self, call: FakeCall) -> str:
        if call.api == "completions":
            self.completions.append(call.body)
            if call.body["prompt"] != PRE_QUERY:  # a follow-up request in a conversation
                return f"And why is that, for conversation {call.body['seed']}?"
            return RAW.get(int(call.body["seed"]), f"Explain topic number {call.body['seed']}.")
        self.chats.append(call.body)
        return f"A reply to: {call.prompt}"


def recipe(server: FakeServer, **generator: Any) -> dict[str, Any]:
    return {
        "name": "magpie-fake",
        "teacher": {"backend": "openai", "model": "fake", "base_url": server.base_url},
        "generator": {"kind": "magpie", "template": "chatml", "max_tokens": 20, **generator},
    }


async def test_two_stages_exact_requests_and_drops(tmp_path: Path) -> None:
    model = Model()
    async with FakeServer(model) as server:
        summary = await run_recipe(recipe(server, count=5), tmp_path)
    assert summary.status == "complete", summary.message
    # every instruction request is the pre-query template with the paper's sampling and stops
    assert model.completions
    for body in model.completions:
        assert body["prompt"] == PRE_QUERY
        assert body["stop"] == STOP
        assert body["temperature"] == 1.0 and body["top_p"] == 1.0 and body["max_tokens"] == 20
    assert sorted(int(b["seed"]) for b in model.completions) == list(range(len(model.completions)))
    # one response request per kept instruction, through the chat path at temperature 0
    records = list(read_accepted(tmp_path / "run"))
    assert len(records) == 5
    assert len(model.chats) == len(records)
    assert all(b["temperature"] == 0.0 and len(b["messages"]) == 1 for b in model.chats)
    by_index = {r.meta["conversation"]: r for r in records}
    assert by_index[0].user == "How do rainbows form?"
    assert by_index[1].user == "What is the capital of Peru?"
    assert by_index[5].user == "Why do cats purr?"
    assert by_index[6].user == "Name three prime numbers."
    assert by_index[6].meta["sanitize"] == ["numbering", "label", "cut_at_answer"]
    assert all(r.assistant == f"A reply to: {r.user}" for r in records)
    assert all(r.meta["pre_query"] == PRE_QUERY and r.meta["template"] == "family:chatml"
               for r in records)  # fmt: skip
    rejected = shard_rows(tmp_path / "run", "rejected")
    reasons = {row["record"]["meta"]["conversation"]: row["reason"] for row in rejected}
    assert reasons == {2: "incomplete", 3: "empty_instruction", 4: "truncated"}
    assert {row["filter"] for row in rejected} == {"magpie"}
    assert summary.manifest["generator"]["dropped"] == {
        "empty_instruction": 1, "incomplete": 1, "truncated": 1,
    }  # fmt: skip
    assert summary.drops["magpie"]["incomplete"] == 1


async def test_multi_turn_continues_with_the_template(tmp_path: Path) -> None:
    model = Model()
    async with FakeServer(model) as server:
        summary = await run_recipe(recipe(server, count=2, turns=2), tmp_path)
    assert summary.status == "complete", summary.message
    records = sorted(read_accepted(tmp_path / "run"), key=lambda r: r.meta["conversation"])
    first = records[0]
    assert [m["role"] for m in first.messages] == ["user", "assistant", "user", "assistant"]
    assert first.messages[2]["content"] == "And why is that, for conversation 0?"
    follow = [b["prompt"] for b in model.completions if b["prompt"] != PRE_QUERY]
    expected = (
        f"<|im_start|>system\n{MT_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\nHow do rainbows form?<|im_end|>\n"
        "<|im_start|>assistant\nA reply to: How do rainbows form?<|im_end|>\n<|im_start|>user\n"
    )
    assert expected in follow
    # the second response sees the whole conversation
    assert any(len(b["messages"]) == 3 for b in model.chats)
    assert all(r.meta["turns"] == 2 for r in records)


async def test_a_chat_template_from_the_recipe_and_a_system_prompt(tmp_path: Path) -> None:
    llama = FAMILIES["llama3"]
    model = Model()
    async with FakeServer(model) as server:
        config = recipe(server, count=1, system_prompt="You are terse.")
        config["generator"].pop("template")
        config["generator"].update(
            chat_template=llama.source, bos_token=llama.bos_token, eos_token=llama.eos_token
        )
        summary = await run_recipe(config, tmp_path)
    assert summary.status == "complete", summary.message
    assert model.completions[0]["prompt"] == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse."
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    )
    assert model.completions[0]["stop"] == [
        "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "\n",
    ]  # fmt: skip
    (record,) = read_accepted(tmp_path / "run")
    assert record.messages[0] == {"role": "system", "content": "You are terse."}
    assert model.chats[0]["messages"][0] == {"role": "system", "content": "You are terse."}


def context(capabilities: Capabilities, template: ChatTemplate | None = None) -> GeneratorContext:
    return GeneratorContext(
        recipe_name="t",
        recipe_hash="h",
        seed=0,
        teacher_backend="somebackend",
        teacher_model="m",
        capabilities=capabilities,
        sampling={"seed": 0},
        chat_template=template,
    )


def test_a_backend_without_raw_completion_fails_at_build_time() -> None:
    spec = MagpieSpec(count=3, template="chatml")
    with pytest.raises(RecipeError, match=r"raw prompts.*somebackend backend only takes chat"):
        spec.build(context(Capabilities(chat=True, completion=False)))


def test_auto_needs_a_template_from_somewhere() -> None:
    with pytest.raises(RecipeError, match=r"generator\.template to the model's family"):
        MagpieSpec(count=3).build(context(Capabilities(completion=True)))
    teacher = ChatTemplate(FAMILIES["gemma"].source, "<bos>", "<eos>")
    built = MagpieSpec(count=3).build(context(Capabilities(completion=True), teacher))
    assert built.pre_query == "<bos><start_of_turn>user\n"
    assert built.stop == ["<end_of_turn>", "<start_of_turn>", "<eos>", "\n"]
    assert built.origin == "teacher"


def test_pre_query_and_stop_given_verbatim() -> None:
    spec = MagpieSpec(
        count=1, pre_query="### Instruction:\n\n", stop=["###"], stop_at_newline=False
    )
    built = spec.build(context(Capabilities(completion=True)))
    assert (built.pre_query, built.stop, built.origin) == ("### Instruction:\n\n", ["###"],
                                                           "pre_query")  # fmt: skip


@pytest.mark.parametrize(
    ("family", "pre_query"),
    [
        ("chatml", "<|im_start|>user\n"),
        ("llama3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"),
        ("mistral", "<s>[INST] "),
        ("gemma", "<bos><start_of_turn>user\n"),
        ("phi3", "<|user|>\n"),
    ],
)
def test_family_pre_query_templates(family: str, pre_query: str) -> None:
    template = ConversationTemplate(FAMILIES[family], family)
    assert template.user_prefix([]) == pre_query
    assert template.stop_tokens()[0] in template.separators()[0]


def test_a_template_that_refuses_a_system_turn_says_so() -> None:
    strict = ChatTemplate(
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}{% for m in messages %}<t>{{ m['content'] }}</t>{% endfor %}"
    )
    with pytest.raises(RecipeError, match="System role not supported"):
        ConversationTemplate(strict, "teacher").user_prefix([{"role": "system", "content": "x"}])


@pytest.mark.parametrize(
    ("raw", "text", "reason"),
    [
        ("Why is the sea salty?<|im_end|>\n<|im_start|>assistant\nBecause", "Why is the sea salty?",
         None),
        ("assistant\nHello there", "Hello there", None),
        ("Human: Plan a trip to Rome.", "Plan a trip to Rome.", None),
        ("## Prompt: Write a limerick.", "Write a limerick.", None),
        ('"Summarise the plot of Hamlet."', "Summarise the plot of Hamlet.", None),
        ("Solve 2x = 6. Solution: x = 3", "Solve 2x = 6.", None),
        ("Rewrite the following text:", "Rewrite the following text:", "incomplete"),
        ("<|im_end|>", "", "empty_instruction"),
        ("   ", "", "empty_instruction"),
        ("Hi", "Hi", "too_short"),
    ],
)  # fmt: skip
def test_sanitisation(raw: str, text: str, reason: str | None) -> None:
    clean = sanitize(raw, tokens=["<|im_start|>", "<|im_end|>"], min_words=2)
    assert (clean.text, clean.reason) == (text, reason)


def test_sanitisation_off_keeps_the_text() -> None:
    clean = sanitize("User: hi there<|im_end|>", tokens=["<|im_end|>"], clean=False)
    assert (clean.text, clean.reason, clean.steps) == ("User: hi there<|im_end|>", None, [])
    assert sanitize("Explain this", finish_reason="length").reason == "truncated"


def test_the_example_recipe_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "magpie.yaml"
    recipe = load_recipe(example)
    assert recipe.generator is not None and recipe.generator.kind == "magpie"
    assert [f.kind for f in recipe.filters] == ["repetition", "language", "dedup", "tags"]
