"""The anthropic backend (Messages API) over real HTTP against the fake server."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from teachkit.errors import ConfigError, RetryableError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.anthropic import AnthropicBackend
from teachkit.teachers.backend import Request
from teachkit.teachers.registry import backend_class, build_backend
from teachkit.testing import FakeServer, FaultPlan

pytestmark = pytest.mark.usefixtures("no_api_keys")


def backend(server: FakeServer, **config: Any) -> AnthropicBackend:
    cfg = TeacherConfig(backend="anthropic", model="claude-test", base_url=server.url, **config)
    built = build_backend(cfg)
    assert isinstance(built, AnthropicBackend)
    return built


def test_registered_through_the_entry_point() -> None:
    assert backend_class("anthropic") is AnthropicBackend


async def test_messages_api_with_system_and_sampling() -> None:
    async with FakeServer({r"haiku": "Old pond, a frog jumps."}) as server:
        b = backend(server)
        messages = [
            {"role": "system", "content": "You are a poet."},
            {"role": "user", "content": "Write a haiku."},
        ]
        options = {"temperature": 1.5, "top_p": 0.9, "stop": ["END"], "seed": 3}
        response = await b.generate(Request(messages=messages, options=options))
        await b.aclose()
        sent = server.bodies[-1]
        assert server.requests["/v1/messages"] == 1
    assert response.texts == ["Old pond, a frog jumps."]
    assert response.finish_reasons == ["stop"]
    assert response.usage.prompt_tokens == 7
    assert response.usage.completion_tokens == 5
    assert sent["system"] == "You are a poet."
    assert sent["messages"] == [{"role": "user", "content": "Write a haiku."}]
    assert sent["max_tokens"] == 4096  # required by the API: the option's default
    assert sent["temperature"] == 1.0  # the API's range is 0..1
    assert sent["stop_sequences"] == ["END"]
    assert "seed" not in sent


async def test_base_url_with_or_without_v1() -> None:
    async with FakeServer() as server:
        for url in (server.url, server.url + "/v1", server.url + "/"):
            b = build_backend(TeacherConfig(backend="anthropic", base_url=url))
            await b.generate(Request(prompt="hi"))
            await b.aclose()
        assert server.requests["/v1/messages"] == 3


async def test_raw_prompt_is_sent_as_a_user_turn_and_max_tokens_truncates() -> None:
    async with FakeServer({"story": "one two three four five six"}) as server:
        b = backend(server)
        response = await b.generate(Request(prompt="Tell a story", options={"max_tokens": 2}))
        await b.aclose()
        sent = server.bodies[-1]
    assert sent["messages"] == [{"role": "user", "content": "Tell a story"}]
    assert response.texts == ["one two"]
    assert response.finish_reasons == ["length"]


async def test_json_schema_is_forced_through_a_tool() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    async with FakeServer() as server:
        b = backend(server)
        request = Request(messages=[{"role": "user", "content": "2+2?"}], json_schema=schema)
        response = await b.generate(request)
        await b.aclose()
        sent = server.bodies[-1]
    assert sent["tools"][0]["input_schema"] == schema
    assert sent["tool_choice"] == {"type": "tool", "name": sent["tools"][0]["name"]}
    assert orjson.loads(response.text) == {"answer": 1}
    assert response.finish_reasons == ["stop"]


async def test_non_object_schema_is_wrapped_and_unwrapped() -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 2}
    async with FakeServer() as server:
        b = backend(server)
        request = Request(messages=[{"role": "user", "content": "list"}], json_schema=schema)
        response = await b.generate(request)
        await b.aclose()
        sent = server.bodies[-1]
    assert sent["tools"][0]["input_schema"]["properties"]["value"] == schema
    value = orjson.loads(response.text)
    assert isinstance(value, list)
    assert len(value) == 2


async def test_n_is_drawn_as_separate_requests() -> None:
    async with FakeServer() as server:
        b = backend(server)
        response = await b.generate(Request(prompt="Name a bird.", options={"n": 3}))
        await b.aclose()
        assert server.calls == 3
    assert len(response.texts) == 3
    assert len(set(response.texts)) == 3  # default temperature: fresh draws
    assert AnthropicBackend.capabilities.n is False


async def test_overloaded_529_is_retryable_with_retry_after() -> None:
    async with FakeServer(faults=FaultPlan(first=("503",), retry_after=2)) as server:
        b = backend(server)
        with pytest.raises(RetryableError) as caught:
            await b.generate(Request(prompt="hi"))
        await b.aclose()
    assert caught.value.status == 529
    assert caught.value.retry_after == 2.0
    assert "Overloaded" in str(caught.value)


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        build_backend(TeacherConfig(backend="anthropic"))


async def test_key_is_sent_in_x_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_KEY", "sk-ant-test-key")
    async with FakeServer(api_key="sk-ant-test-key") as server:
        b = backend(server, api_key_env="CLAUDE_KEY")
        response = await b.generate(Request(prompt="hi"))
        await b.aclose()
        assert server.auth == {"x-api-key": 1}
    assert response.text
    assert b.describe() == {
        "backend": "anthropic",
        "model": "claude-test",
        "base_url": server.url,
        "api_key_env": "CLAUDE_KEY",
    }
