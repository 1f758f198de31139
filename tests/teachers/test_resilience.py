"""Never losing a request: each failure the fake server injects, end to end over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from teachkit.errors import CircuitOpenError, RetryableError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Request
from teachkit.teachers.limiter import Controller, ControlSettings
from teachkit.teachers.teacher import Teacher
from teachkit.testing import FakeCall, FakeServer, FaultPlan

pytestmark = pytest.mark.usefixtures("no_api_keys")

FAST = ControlSettings(backoff_base=0.002, backoff_cap=0.01)


def teacher(
    server: FakeServer,
    settings: ControlSettings = FAST,
    fake_time: Any = None,
    **config: Any,
) -> Teacher:
    cfg = TeacherConfig(backend="openai", model="fake", base_url=server.base_url, **config)
    t = Teacher(cfg)
    extra = {"sleep": fake_time.sleep} if fake_time is not None else {}
    t.controller = Controller(cfg, settings=settings, **extra)
    return t


def ask(i: int = 0) -> Request:
    return Request(messages=[{"role": "user", "content": f"Question {i}"}])


@pytest.mark.parametrize("fault", ["500", "503", "drop", "malformed", "429"])
async def test_each_transient_fault_is_retried_and_answered(fault: str) -> None:
    plan = FaultPlan(first=(fault,), retry_after=0.01)
    async with FakeServer(faults=plan) as server:
        t = teacher(server)
        response = await t.complete(ask())
        await t.aclose()
        assert server.fault_counts == {fault: 1}
        assert server.calls == 2
    assert response.text.startswith("Answer")
    assert t.stats()["retries"] == 1
    assert t.failed == 0


async def test_a_hanging_request_times_out_and_is_retried() -> None:
    plan = FaultPlan(first=("hang",), hang_seconds=10)
    async with FakeServer(faults=plan) as server:
        t = teacher(server, timeout=0.3)
        response = await t.complete(ask())
        await t.aclose()
        assert server.calls == 2
    assert response.text


async def test_truncated_answer_is_returned_with_finish_reason_length() -> None:
    async with FakeServer(faults=FaultPlan(first=("truncated",))) as server:
        t = teacher(server)
        response = await t.complete(ask())
        await t.aclose()
        assert server.calls == 1
    assert response.finish_reasons == ["length"]


async def test_retry_after_from_the_server_is_honoured(fake_time: Any) -> None:
    async with FakeServer(faults=FaultPlan(first=("429",), retry_after=3)) as server:
        t = teacher(server, fake_time=fake_time)
        await t.complete(ask())
        await t.aclose()
        assert server.calls == 2
    assert fake_time.slept
    assert max(fake_time.slept) >= 3.0


async def test_bounded_retries_end_in_retryable_error() -> None:
    async with FakeServer(faults=FaultPlan(rate_500=1.0)) as server:
        t = teacher(server, max_retries=2)
        with pytest.raises(RetryableError, match=r"after 3 attempts.*HTTP 500") as caught:
            await t.complete(ask())
        await t.aclose()
        assert server.calls == 3
    assert caught.value.status == 500
    assert t.failed == 1


async def test_circuit_opens_when_the_server_keeps_failing() -> None:
    settings = ControlSettings(
        backoff_base=0.002, backoff_cap=0.01, breaker_failures=8, breaker_seconds=0.0
    )
    async with FakeServer(faults=FaultPlan(rate_500=1.0)) as server:
        t = teacher(server, settings, max_retries=50, max_concurrency=4)
        results = await asyncio.gather(
            *(t.complete(ask(i)) for i in range(10)), return_exceptions=True
        )
        await t.aclose()
        calls = server.calls
    assert all(isinstance(r, CircuitOpenError) for r in results)
    message = str(results[0])
    assert "HTTP 500" in message
    assert "The server failed (injected 500)." in message
    assert "run the same command again" in message
    assert calls < 8 + 4  # stops promptly instead of retrying each request 50 times


async def test_window_shrinks_under_429_and_grows_back() -> None:
    seen: list[int] = []
    holder: dict[str, Teacher] = {}

    def script(call: FakeCall) -> str | None:
        seen.append(holder["t"].controller.window.allowed)
        return None

    plan = FaultPlan(first=("429",) * 8, retry_after=None)
    only_429 = ControlSettings(backoff_base=0.002, backoff_cap=0.01, latency_tolerance=1e9)
    async with FakeServer(script, faults=plan) as server:
        t = holder["t"] = teacher(server, only_429, max_concurrency=8)
        await asyncio.gather(*(t.complete(ask(i)) for i in range(120)))
        await t.aclose()
        assert server.max_in_flight <= 8
    assert min(seen) < 8  # cut after the 429s
    assert t.controller.window.allowed == 8  # and grown back to max_concurrency
    assert t.stats()["window_cuts"] >= 1
    assert t.requests == 120


async def test_window_is_saturated_and_never_exceeded() -> None:
    async with FakeServer(latency=0.02) as server:
        t = teacher(server, max_concurrency=16)
        await asyncio.gather(*(t.complete(ask(i)) for i in range(100)))
        await t.aclose()
        assert server.max_in_flight == 16
        assert server.answered == 100


async def test_window_backs_off_when_the_server_starts_queueing() -> None:
    """A server that queues instead of answering 429 (like vLLM) shows it only in latency."""
    holder: dict[str, FakeServer] = {}

    def script(call: FakeCall) -> str | None:
        server = holder["server"]
        if server.calls >= 200 and server.capacity is None:
            server.capacity = 2  # from now on, two answers at a time; the rest wait
        return None

    async with FakeServer(script, latency=0.01) as server:
        holder["server"] = server
        t = teacher(server, max_concurrency=32)
        await asyncio.gather(*(t.complete(ask(i)) for i in range(450)))
        await t.aclose()
        assert server.max_in_flight <= 32
    assert t.controller.stats()["window_cuts"] >= 1
    assert t.requests == 450
