"""Magpie on the embedded SmolLM2-135M-Instruct: the pre-query template comes from the chat
template in its GGUF file. The model is weak, so only structure and bookkeeping are checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from support import shard_rows
from teachkit.engine import read_accepted, run_async
from teachkit.generators.magpie_template import ConversationTemplate
from teachkit.recipe.load import load_recipe
from teachkit.teachers.llamacpp import default_model_path, gguf_chat_template

REASONS = {"truncated", "empty_instruction", "incomplete", "too_short", "too_long",
           "truncated_response", "empty_response"}  # fmt: skip


@pytest.mark.slow
async def test_instructions_from_the_models_own_template(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    recipe = {
        "name": "magpie-embedded",
        # one thread: fast enough alone, and far faster than two on a busy machine
        "teacher": {"backend": "llamacpp", "max_concurrency": 1, "options": {"n_threads": 1}},
        "generator": {
            "kind": "magpie",
            "count": 2,
            "max_tokens": 48,
            "response": {"max_tokens": 48, "drop_truncated": False},
        },
        "run": {"max_requests": 12},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    summary = await run_async(load_recipe(path), out=tmp_path / "run")
    assert summary.status in ("complete", "incomplete"), summary.message

    template = gguf_chat_template(str(default_model_path()))
    assert template is not None
    expected = ConversationTemplate(template, "teacher").user_prefix([])
    assert expected.endswith("<|im_start|>user\n")  # a ChatML model: the user turn is open
    stats = summary.manifest["generator"]
    assert stats["template"] == "teacher" and stats["pre_query"] == expected
    assert stats["stop"][0] == "<|im_end|>" and stats["stop"][-1] == "\n"

    records = list(read_accepted(tmp_path / "run"))
    assert summary.accepted == len(records)
    for record in records:
        assert [m["role"] for m in record.messages] == ["user", "assistant"]
        assert record.user.strip() and record.meta["pre_query"] == expected
        assert record.meta["generator"] == "magpie"
    rejected = shard_rows(tmp_path / "run", "rejected")
    assert {row["reason"] for row in rejected if row["filter"] == "magpie"} <= REASONS
    # every conversation that started ended in exactly one record, or is still counted pending
    ended = [r.meta["conversation"] for r in records]
    ended += [row["record"]["meta"]["conversation"] for row in rejected]
    assert len(ended) == len(set(ended))
    assert stats.get("instructions", 0) >= len(ended)
