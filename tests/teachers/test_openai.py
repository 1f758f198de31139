"""The openai backend over real HTTP against the fake server."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from teachkit.errors import (
    CircuitOpenError,
    ConfigError,
    RecipeError,
    RequestRejectedError,
    RetryableError,
)
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.openai import OpenAIBackend, api_root, derive_seed
from teachkit.teachers.registry import backend_class, build_backend
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeServer

pytestmark = pytest.mark.usefixtures("no_api_keys")


def backend(server: FakeServer, **config: Any) -> OpenAIBackend:
    options = config.pop("options", {})
    cfg = TeacherConfig(
        backend="openai", model="fake-model", base_url=server.base_url, options=options, **config
    )
    built = build_backend(cfg)
    assert isinstance(built, OpenAIBackend)
    return built


def chat(text: str, **options: Any) -> Request:
    return Request(messages=[{"role": "user", "content": text}], options=options)


def test_registered_through_the_entry_point() -> None:
    assert backend_class("openai") is OpenAIBackend


async def test_chat_sends_messages_and_returns_the_answer_with_usage() -> None:
    async with FakeServer({r"capital of France": "Paris is the capital."}) as server:
        b = backend(server)
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ]
        response = await b.generate(Request(messages=messages, options={"temperature": 0.2}))
        await b.aclose()
        sent = server.bodies[-1]
    assert response.texts == ["Paris is the capital."]
    assert response.finish_reasons == ["stop"]
    assert response.usage.prompt_tokens == 8  # the fake counts words
    assert response.usage.completion_tokens == 4
    assert response.model == "fake-model"
    assert sent["messages"] == messages
    assert sent["temperature"] == 0.2
    assert sent["model"] == "fake-model"
    assert server.requests["/v1/chat/completions"] == 1


async def test_raw_prompts_go_to_the_completions_endpoint() -> None:
    async with FakeServer({r"^Once upon": "a time there was a fox."}) as server:
        b = backend(server)
        response = await b.generate(Request(prompt="Once upon", options={"max_tokens": 3}))
        await b.aclose()
    assert server.requests["/v1/completions"] == 1
    assert response.texts == ["a time there"]
    assert response.finish_reasons == ["length"]  # returned as is: the generator decides


async def test_n_choices_come_back_in_one_request() -> None:
    async with FakeServer() as server:
        b = backend(server)
        response = await b.generate(chat("Name a colour.", n=3, seed=7))
        await b.aclose()
        assert server.calls == 1
        assert server.bodies[-1]["n"] == 3
    assert len(response.texts) == 3
    assert len(set(response.texts)) == 3


async def test_n_is_drawn_one_by_one_when_the_server_ignores_it() -> None:
    async with FakeServer(ignore_n=True) as server:
        b = backend(server)
        response = await b.generate(chat("Name a colour.", n=3, seed=7))
        await b.aclose()
        assert server.calls == 3  # one answered with a single choice, two more to top up
    assert len(response.texts) == 3
    assert len(set(response.texts)) == 3
    assert response.usage.completion_tokens > 0


async def test_supports_n_false_sends_separate_requests_and_clears_the_flag() -> None:
    async with FakeServer() as server:
        b = backend(server, options={"supports_n": False})
        assert b.capabilities.n is False
        response = await b.generate(chat("Name a colour.", n=2))
        await b.aclose()
        assert server.calls == 2
        assert all("n" not in body for body in server.bodies)
    assert len(response.texts) == 2


async def test_seed_differs_per_sample_and_is_stable() -> None:
    async with FakeServer() as server:
        b = backend(server)
        first = await b.generate(
            Request(messages=[{"role": "user", "content": "hi"}], options={"seed": 3}, sample=0)
        )
        again = await b.generate(
            Request(messages=[{"role": "user", "content": "hi"}], options={"seed": 3}, sample=0)
        )
        other = await b.generate(
            Request(messages=[{"role": "user", "content": "hi"}], options={"seed": 3}, sample=1)
        )
        await b.aclose()
        seeds = [body["seed"] for body in server.bodies]
    assert seeds == [derive_seed(3, 0), derive_seed(3, 0), derive_seed(3, 1)]
    assert first.text == again.text
    assert first.text != other.text


async def test_json_schema_is_sent_as_response_format_and_answered() -> None:
    schema = {
        "type": "object",
        "properties": {"question": {"type": "string"}, "level": {"enum": ["easy", "hard"]}},
        "required": ["question", "level"],
    }
    async with FakeServer() as server:
        b = backend(server)
        request = Request(messages=[{"role": "user", "content": "Ask me."}], json_schema=schema)
        response = await b.generate(request)
        await b.aclose()
        sent = server.bodies[-1]["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": False},
    }
    data = orjson.loads(response.text)
    assert set(data) == {"question", "level"}
    assert data["level"] == "easy"


@pytest.mark.parametrize(
    ("mode", "expected"), [("json_object", {"type": "json_object"}), ("off", None)]
)
async def test_json_modes(mode: str, expected: dict[str, str] | None) -> None:
    async with FakeServer() as server:
        b = backend(server, options={"json_mode": mode})
        await b.generate(Request(messages=[{"role": "user", "content": "x"}], json_schema={}))
        await b.aclose()
        assert server.bodies[-1].get("response_format") == expected
    assert b.capabilities.json_schema is (mode != "off")


async def test_max_tokens_field_and_extra_body() -> None:
    async with FakeServer() as server:
        options = {"max_tokens_field": "max_completion_tokens", "extra_body": {"top_k": 20}}
        b = backend(server, options=options)
        await b.generate(chat("hello", max_tokens=50))
        await b.aclose()
        sent = server.bodies[-1]
    assert sent["max_completion_tokens"] == 50
    assert "max_tokens" not in sent
    assert sent["top_k"] == 20


def test_unknown_options_are_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match=r"teacher\.options\.colour"):
        build_backend(
            TeacherConfig(backend="openai", base_url="http://localhost:1", options={"colour": 1})
        )


def test_base_url_gets_v1_only_when_it_has_no_path() -> None:
    assert api_root("http://localhost:8000") == "http://localhost:8000/v1"
    assert api_root("http://localhost:8000/v1/") == "http://localhost:8000/v1"
    assert api_root("https://example.com/openai/v1") == "https://example.com/openai/v1"


def test_missing_key_names_the_variable_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_PROVIDER_KEY", raising=False)
    config = TeacherConfig(
        backend="openai", base_url="https://api.example.com/v1", api_key_env="MY_PROVIDER_KEY"
    )
    with pytest.raises(ConfigError, match="MY_PROVIDER_KEY"):
        build_backend(config)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_backend(TeacherConfig(backend="openai"))


async def test_local_server_needs_no_key_and_gets_no_authorization_header() -> None:
    async with FakeServer() as server:
        b = backend(server)
        await b.generate(chat("hi"))
        await b.aclose()
        assert server.auth == {"none": 1}
    assert b.describe()["api_key_env"] is None


async def test_key_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-correct-key")
    async with FakeServer(api_key="sk-test-correct-key") as server:
        b = backend(server)
        response = await b.generate(chat("hi"))
        await b.aclose()
        assert server.auth == {"bearer": 1}
    assert response.texts
    assert b.describe()["api_key_env"] == "OPENAI_API_KEY"


async def test_refused_key_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-wrong-key-123")
    async with FakeServer(api_key="sk-test-right") as server:
        teacher = Teacher(backend(server).config)  # the Teacher masks what the server echoes
        with pytest.raises(ConfigError) as caught:
            await teacher.complete(chat("hi"))
        await teacher.aclose()
    message = str(caught.value)
    assert "HTTP 401" in message
    assert "OPENAI_API_KEY" in message
    assert "sk-test-wrong-key-123" not in message


async def test_missing_key_on_a_local_server_that_wants_one_says_so() -> None:
    async with FakeServer(api_key="sk-test-right") as server:
        b = backend(server)
        with pytest.raises(ConfigError, match="no key was sent because OPENAI_API_KEY is unset"):
            await b.generate(chat("hi"))
        await b.aclose()


async def _serve_status(status: int, body: dict[str, Any]) -> Exception:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    cfg = TeacherConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1")
    b = build_backend(cfg)
    try:
        await b.generate(chat("hi"))
    except Exception as exc:
        return exc
    finally:
        await b.aclose()
        await runner.cleanup()
    raise AssertionError("the call should have failed")


async def test_client_errors_reject_the_request_with_the_server_message() -> None:
    error = await _serve_status(400, {"error": {"message": "context length exceeded"}})
    assert isinstance(error, RequestRejectedError)
    assert error.status == 400
    assert "context length exceeded" in str(error)
    error = await _serve_status(404, {"error": {"message": "model m does not exist"}})
    assert isinstance(error, RequestRejectedError)
    assert "teacher.model" in str(error)


async def test_exhausted_quota_opens_the_circuit() -> None:
    body = {"error": {"message": "You exceeded your quota.", "code": "insufficient_quota"}}
    error = await _serve_status(429, body)
    assert isinstance(error, CircuitOpenError)
    assert "exceeded your quota" in str(error)


async def test_answer_without_choices_is_retryable() -> None:
    error = await _serve_status(200, {"error": {"message": "upstream hiccup"}})
    assert isinstance(error, RetryableError)
    assert "upstream hiccup" in str(error)


async def test_refusal_is_returned_as_content() -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return web.json_response({"choices": [choice], "model": "m"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    b = build_backend(TeacherConfig(backend="openai", base_url=f"http://127.0.0.1:{port}"))
    try:
        response = await b.generate(chat("something bad"))
    finally:
        await b.aclose()
        await runner.cleanup()
    assert response.texts == ["I can't help with that."]
    assert response.usage.prompt_tokens > 0  # no usage sent: estimated


async def test_rate_limit_headers_are_read_into_limits() -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": "1m30s",
    }
    async with FakeServer(headers=headers) as server:
        b = backend(server)
        response = await b.generate(chat("hi"))
        await b.aclose()
    assert response.limits == {
        "limit_requests": 500.0,
        "remaining_requests": 499.0,
        "reset_requests": pytest.approx(0.12),
        "limit_tokens": 30000.0,
        "remaining_tokens": 29000.0,
        "reset_tokens": 90.0,
    }
