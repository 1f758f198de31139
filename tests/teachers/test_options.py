"""Backends are generic over their Options model; the registry validates teacher.options with it."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field

from teachkit.errors import RecipeError
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.load import parse_recipe
from teachkit.teachers.anthropic import AnthropicBackend, AnthropicOptions
from teachkit.teachers.backend import Backend, BackendOptions, Capabilities, Request, Response
from teachkit.teachers.llamacpp import LlamaCppBackend, LlamaCppOptions
from teachkit.teachers.openai import OpenAIBackend, OpenAIOptions
from teachkit.teachers.registry import build_backend, register_backend


class EchoOptions(BackendOptions):
    prefix: str = Field(default=">", max_length=5)


class Echo(Backend[EchoOptions]):
    id = "echo-typed"
    capabilities: ClassVar[Capabilities] = Capabilities()

    async def generate(self, request: Request) -> Response:
        return Response(
            texts=[self.options.prefix + (request.prompt or "")], finish_reasons=["stop"]
        )


class Legacy(Backend):
    """A plugin written against the nested-class style still works."""

    id = "legacy-nested"

    class Options(Backend.Options):
        level: int = 1

    async def generate(self, request: Request) -> Response:
        return Response(texts=[str(self.options.level)], finish_reasons=["stop"])  # type: ignore[attr-defined]


register_backend(Echo)
register_backend(Legacy)


def test_options_model_follows_the_type_parameter() -> None:
    assert OpenAIBackend.Options is OpenAIOptions
    assert AnthropicBackend.Options is AnthropicOptions
    assert LlamaCppBackend.Options is LlamaCppOptions
    assert Echo.Options is EchoOptions
    assert Backend.Options is BackendOptions


async def test_registry_validates_with_the_typed_model() -> None:
    backend = build_backend(TeacherConfig(backend="echo-typed", options={"prefix": "#"}))
    assert isinstance(backend.options, EchoOptions)
    answer = await backend.generate(Request(prompt="x"))
    assert answer.text == "#x"
    with pytest.raises(RecipeError, match=r"teacher\.options\.prefix"):
        build_backend(TeacherConfig(backend="echo-typed", options={"prefix": "toolong"}))
    with pytest.raises(RecipeError, match=r"teacher\.options\.nope"):
        build_backend(TeacherConfig(backend="echo-typed", options={"nope": 1}))
    legacy = build_backend(TeacherConfig(backend="legacy-nested", options={"level": 3}))
    assert (await legacy.generate(Request(prompt="x"))).text == "3"


def test_openai_options_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = build_backend(
        TeacherConfig(
            backend="openai", base_url="http://127.0.0.1:9/v1", options={"supports_n": False}
        )
    )
    assert isinstance(backend, OpenAIBackend)
    assert isinstance(backend.options, OpenAIOptions) and backend.options.supports_n is False


@pytest.mark.parametrize("count", [True, "5", 2.0, 0])
def test_count_must_be_a_whole_number(count: object) -> None:
    data = {"generator": {"kind": "templated", "count": count, "prompt": "x"}}
    with pytest.raises(RecipeError, match=r"generator\.count"):
        parse_recipe(data)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"seed": 2**64}, "seed"),
        ({"seed": True}, "seed"),
        ({"teacher": {"sampling": {"seed": -(2**70)}}}, r"teacher\.sampling\.seed"),
        ({"teacher": {"sampling": {"max_tokens": 10**30}}}, r"teacher\.sampling\.max_tokens"),
        ({"teacher": {"options": {"extra": [1, 2**80]}}}, r"teacher"),
        ({"teacher": {"prices": {"input_per_mtok": float("inf"), "output_per_mtok": 1}}}, "prices"),
        ({"teacher": {"timeout": float("inf")}}, r"teacher\.timeout"),
        ({"teacher": {"generation_depth": 2**63}}, "generation_depth"),
    ],
)
def test_numbers_that_cannot_be_stored_are_refused(change: dict[str, object], where: str) -> None:
    with pytest.raises(RecipeError, match=where):
        parse_recipe(change)
