"""The fake server itself, spoken to with a plain aiohttp client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from teachkit.testing import FakeCall, FakeServer, FaultPlan, load_script, schema_instance


async def post(url: str, body: dict[str, Any], **headers: str) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=orjson.dumps(body), headers=headers) as resp,
    ):
        raw = await resp.read()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = raw
        return resp.status, data, resp.headers


def chat_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


async def test_chat_answer_shape_and_usage() -> None:
    async with FakeServer({"weather": "It is sunny today."}) as server:
        status, data, _ = await post(
            f"{server.base_url}/chat/completions", chat_body("How is the weather?")
        )
    assert status == 200
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "It is sunny today."}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}


async def test_completions_and_n() -> None:
    async with FakeServer() as server:
        body = {"model": "m", "prompt": "Once upon a time", "n": 3, "temperature": 0}
        status, data, _ = await post(f"{server.base_url}/completions", body)
        assert server.requests == {"/v1/completions": 1}
    texts = [c["text"] for c in data["choices"]]
    assert status == 200
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert data["usage"]["completion_tokens"] == sum(len(t.split()) for t in texts)


async def test_default_answers_are_deterministic_and_distinct() -> None:
    async with FakeServer() as server:
        url = f"{server.base_url}/chat/completions"
        a1 = (await post(url, chat_body("alpha", seed=1)))[1]["choices"][0]["message"]["content"]
        a2 = (await post(url, chat_body("alpha", seed=1)))[1]["choices"][0]["message"]["content"]
        b = (await post(url, chat_body("beta", seed=1)))[1]["choices"][0]["message"]["content"]
        c = (await post(url, chat_body("alpha", seed=2)))[1]["choices"][0]["message"]["content"]
        # without a seed, a repeated prompt is sampled afresh (first answer always the same)
        d1 = (await post(url, chat_body("gamma")))[1]["choices"][0]["message"]["content"]
        d2 = (await post(url, chat_body("gamma")))[1]["choices"][0]["message"]["content"]
        z1 = (await post(url, chat_body("zeta", temperature=0)))[1]["choices"][0]["message"]
        z2 = (await post(url, chat_body("zeta", temperature=0)))[1]["choices"][0]["message"]
    assert a1 == a2
    assert len({a1, b, c}) == 3
    assert d1 != d2
    assert z1 == z2
    async with FakeServer() as fresh:
        url = f"{fresh.base_url}/chat/completions"
        again = (await post(url, chat_body("gamma")))[1]["choices"][0]["message"]["content"]
    assert again == d1


async def test_rules_cycle_and_callables_see_the_call() -> None:
    rules = {r"^color": ["red", "green"], r"shape": "circle"}
    async with FakeServer(rules) as server:
        url = f"{server.base_url}/chat/completions"
        got = [
            (await post(url, chat_body(t)))[1]["choices"][0]["message"]["content"]
            for t in ("color?", "color?", "color?", "a shape?")
        ]
    assert got == ["red", "green", "red", "circle"]

    calls: list[FakeCall] = []

    def script(call: FakeCall) -> str | None:
        calls.append(call)
        return call.prompt.upper() if call.index == 0 else None

    async with FakeServer(script) as server:
        data = (await post(f"{server.base_url}/chat/completions", chat_body("hi", n=2)))[1]
    assert data["choices"][0]["message"]["content"] == "HI"
    assert data["choices"][1]["message"]["content"].startswith("Answer")
    assert [(c.api, c.prompt, c.index) for c in calls] == [("chat", "hi", 0), ("chat", "hi", 1)]


async def test_max_tokens_and_stop() -> None:
    async with FakeServer({"": "one two three four five"}) as server:
        url = f"{server.base_url}/chat/completions"
        cut = (await post(url, chat_body("x", max_tokens=2)))[1]["choices"][0]
        stopped = (await post(url, chat_body("x", stop=[" four"])))[1]["choices"][0]
    assert (cut["message"]["content"], cut["finish_reason"]) == ("one two", "length")
    assert (stopped["message"]["content"], stopped["finish_reason"]) == ("one two three", "stop")


async def test_json_answers_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 20},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "score": {"type": "integer", "minimum": 3},
            "ok": {"type": ["boolean", "null"]},
        },
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    async with FakeServer() as server:
        url = f"{server.base_url}/chat/completions"
        data = (await post(url, chat_body("x", response_format=fmt)))[1]
        plain = (await post(url, chat_body("x", response_format={"type": "json_object"})))[1]
    value = orjson.loads(data["choices"][0]["message"]["content"])
    assert set(value) == {"title", "tags", "score", "ok"}
    assert len(value["title"]) <= 20
    assert len(value["tags"]) == 2
    assert value["score"] == 3
    assert value["ok"] is True
    assert "answer" in orjson.loads(plain["choices"][0]["message"]["content"])
    assert schema_instance({"anyOf": [{"const": 5}, {"type": "string"}]}) == 5


async def test_messages_api_shape_and_forced_tool() -> None:
    async with FakeServer({"hello": "Hi there."}) as server:
        url = f"{server.url}/v1/messages"
        body = {
            "model": "c",
            "max_tokens": 50,
            "system": "Be nice.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        }
        status, data, _ = await post(url, body)
        tool = {
            "name": "answer",
            "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        }
        forced = {**body, "tools": [tool], "tool_choice": {"type": "tool", "name": "answer"}}
        _, tooled, _ = await post(url, {**forced, "messages": [{"role": "user", "content": "x"}]})
    assert status == 200
    assert data["type"] == "message"
    assert data["content"] == [{"type": "text", "text": "Hi there."}]
    assert data["stop_reason"] == "end_turn"
    assert data["usage"] == {"input_tokens": 3, "output_tokens": 2}
    assert tooled["content"][0]["type"] == "tool_use"
    assert tooled["content"][0]["input"] == {"n": 1}
    assert tooled["stop_reason"] == "tool_use"


async def test_injected_faults_in_order() -> None:
    plan = FaultPlan(
        first=("429", "500", "503", "truncated", "malformed", "drop", "ok"), retry_after=2.5
    )
    async with FakeServer({"": "alpha beta gamma delta"}, faults=plan) as server:
        url = f"{server.base_url}/chat/completions"
        s429, e429, h429 = await post(url, chat_body("x"))
        s500, e500, _ = await post(url, chat_body("x"))
        s503, _, _ = await post(url, chat_body("x"))
        _, truncated, _ = await post(url, chat_body("x"))
        _, malformed, _ = await post(url, chat_body("x"))
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(url, chat_body("x"))
        ok_status, _, _ = await post(url, chat_body("x"))
        assert server.fault_counts == {
            "429": 1,
            "500": 1,
            "503": 1,
            "truncated": 1,
            "malformed": 1,
            "drop": 1,
        }
        assert server.answered == 2  # the truncated answer and the last one
        assert server.calls == 7
    assert (s429, h429["Retry-After"]) == (429, "2.5")
    assert e429["error"]["message"]
    assert (s500, s503, ok_status) == (500, 503, 200)
    assert "injected 500" in e500["error"]["message"]
    assert truncated["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "alpha beta"},
        "finish_reason": "length",
        "logprobs": None,
    }
    assert isinstance(malformed, bytes)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(malformed)


async def test_anthropic_errors_use_its_shape() -> None:
    async with FakeServer(faults=FaultPlan(first=("503",))) as server:
        status, data, _ = await post(f"{server.url}/v1/messages", {"messages": []})
    assert status == 529
    assert data["type"] == "error"
    assert data["error"]["type"] == "overloaded_error"


async def test_fault_rates_are_seeded() -> None:
    async def fates(seed: int) -> list[int]:
        plan = FaultPlan(rate_429=0.3, rate_500=0.2, seed=seed, retry_after=None)
        async with FakeServer(faults=plan) as server:
            url = f"{server.base_url}/chat/completions"
            return [(await post(url, chat_body(str(i))))[0] for i in range(40)]

    first, again, other = await fates(1), await fates(1), await fates(2)
    assert first == again
    assert first != other
    assert {429, 500, 200} == set(first)


def test_fault_plan_validation() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        FaultPlan(first=("404",))
    with pytest.raises(ValueError, match="add up"):
        FaultPlan(rate_429=0.7, rate_500=0.5)


async def test_stats_endpoint_reset_and_models() -> None:
    async with FakeServer() as server, aiohttp.ClientSession() as session:
        await post(f"{server.base_url}/chat/completions", chat_body("x"))
        async with session.get(f"{server.base_url}/models") as resp:
            assert (await resp.json())["data"][0]["id"] == "fake"
        async with session.get(f"{server.url}/_stats") as resp:
            stats = await resp.json()
        assert stats["calls"] == 1
        assert stats["answered"] == 1
        assert stats["requests"] == {"/v1/chat/completions": 1, "/v1/models": 1}
        assert stats["auth"] == {"none": 1}
        async with session.post(f"{server.url}/_reset") as resp:
            assert resp.status == 200
        assert server.calls == 0
        assert server.stats()["requests"] == {}


async def test_api_key_is_required_when_set() -> None:
    async with FakeServer(api_key="k1") as server:
        url = f"{server.base_url}/chat/completions"
        denied, body, _ = await post(url, chat_body("x"), Authorization="Bearer nope")
        allowed, _, _ = await post(url, chat_body("x"), Authorization="Bearer k1")
        via_header, _, _ = await post(
            f"{server.url}/v1/messages", {"messages": []}, **{"x-api-key": "k1"}
        )
    assert (denied, allowed, via_header) == (401, 200, 200)
    assert "nope" in body["error"]["message"]  # echoed, as some servers do


async def test_bad_bodies_are_400() -> None:
    async with FakeServer() as server, aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}/chat/completions", data=b"{not json") as r:
            assert r.status == 400
        async with session.post(f"{server.base_url}/chat/completions", data=b"[1]") as r:
            assert r.status == 400


def test_load_script(tmp_path: Path) -> None:
    path = tmp_path / "script.yaml"
    path.write_text("'^hello': Hi!\n'colou?r': [red, blue]\n", encoding="utf-8")
    assert load_script(path) == {"^hello": "Hi!", "colou?r": ["red", "blue"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mapping of regular expressions"):
        load_script(bad)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 1e9},
        {"type": "array", "minItems": 10**9, "items": {"type": "string"}},
        {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000}},
        {"type": "string", "minLength": 1e300},
    ],
    ids=["min_length_1e9", "min_items_1e9", "nested_million", "min_length_1e300"],
)
async def test_no_work_limits_for_the_fake_server(schema: dict[str, Any]) -> None:
    """A schema asking for a gigabyte is refused with a 400, and the server keeps answering."""
    body = chat_body(
        "x",
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "t",
                "schema": {"type": "object", "properties": {"v": schema}, "required": ["v"]},
            },
        },
    )
    async with FakeServer() as server:
        url = f"{server.base_url}/chat/completions"
        status, data, _ = await post(url, body)
        after, _, _ = await post(url, chat_body("still there?"))
    assert status == 400
    assert "schema" in data["error"]["message"].lower()
    assert after == 200
