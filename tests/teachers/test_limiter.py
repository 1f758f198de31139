"""The controller's parts with a fake clock: window, buckets, retries, breaker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from teachkit.errors import CircuitOpenError, ConfigError, RequestRejectedError, RetryableError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Response, Usage
from teachkit.teachers.limiter import AdaptiveWindow, Controller, ControlSettings, TokenBucket


def ok(tokens: int = 10, limits: dict[str, float] | None = None) -> Response:
    return Response(texts=["ok"], finish_reasons=["stop"], usage=Usage(5, tokens), limits=limits)


def controller(
    fake_time: Any, settings: ControlSettings | None = None, **config: Any
) -> Controller:
    return Controller(
        TeacherConfig(backend="openai", **config),
        settings=settings,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )


# --- the window -------------------------------------------------------------------------------
def test_overload_halves_once_per_round_trip_and_success_grows_back() -> None:
    window = AdaptiveWindow(32, ControlSettings())
    sent_before = window.epoch
    assert window.overload(sent_before) is True
    assert window.allowed == 16
    # the other requests of the same flight answered 429 too: no further cut
    for _ in range(20):
        assert window.overload(sent_before) is False
    assert window.allowed == 16
    # a request sent after the cut may cut again
    assert window.overload(window.epoch) is True
    assert window.allowed == 8
    for _ in range(600):  # +1 per window's worth of successes
        window.success(window.epoch, 0.1, 10)
    assert window.allowed == 32  # back to max_concurrency, never above


def test_window_never_goes_below_one() -> None:
    window = AdaptiveWindow(4, ControlSettings())
    for _ in range(10):
        window.overload(window.epoch)
    assert window.allowed == 1
    assert window.limit >= 1.0


def test_rising_latency_cuts_the_window_and_steady_latency_does_not() -> None:
    window = AdaptiveWindow(64, ControlSettings())
    for _ in range(500):
        assert window.success(window.epoch, 0.1, 20) is False
    assert window.allowed == 64
    cuts = sum(window.success(window.epoch, 1.0, 20) for _ in range(50))
    assert cuts >= 1
    assert window.allowed < 64
    shrunk = window.allowed
    for _ in range(2000):
        window.success(window.epoch, 0.1, 20)
    assert window.allowed > shrunk


def test_latency_is_judged_per_token() -> None:
    """Long answers take longer; that alone is no sign of a queue."""
    window = AdaptiveWindow(64, ControlSettings())
    for i in range(1000):
        tokens = 10 if i % 2 else 1000
        window.success(window.epoch, 0.2 + 0.01 * tokens, tokens)
    assert window.allowed == 64


# --- token buckets ------------------------------------------------------------------------------
def test_token_bucket_counts(fake_time: Any) -> None:
    bucket = TokenBucket.per_minute(60, fake_time.clock)  # one a second, burst of one
    waits = [bucket.reserve(1) for _ in range(5)]
    assert waits == [0.0, 1.0, 2.0, 3.0, 4.0]
    fake_time.now += 10  # enough to pay the debt and refill, but never above capacity
    assert bucket.reserve(1) == 0.0
    assert bucket.reserve(1) == 1.0


def test_token_bucket_adjusts_to_real_usage(fake_time: Any) -> None:
    bucket = TokenBucket.per_minute(6000, fake_time.clock)  # 100 tokens/s
    assert bucket.reserve(100) == 0.0
    bucket.adjust(-60)  # the request used 60 tokens fewer than estimated
    assert bucket.reserve(60) == 0.0
    assert bucket.reserve(50) == pytest.approx(0.5)


async def test_rpm_paces_calls(fake_time: Any) -> None:
    c = controller(fake_time, rpm=120)  # two a second
    calls = []

    async def attempt() -> Response:
        calls.append(fake_time.now)
        return ok()

    for _ in range(9):
        await c.call(attempt)
    assert len(calls) == 9
    assert calls[1] == calls[0]  # a burst of one second's worth: two
    assert calls[-1] - calls[0] == pytest.approx((9 - 2) * 0.5)
    assert c.stats()["throttled_seconds"] > 0


async def test_tpm_uses_estimates_then_real_usage(fake_time: Any) -> None:
    c = controller(fake_time, tpm=600)  # 10 tokens/s, burst of 10
    assert c.needs_token_estimates

    async def attempt() -> Response:
        return ok(tokens=15)  # 20 tokens in all

    await c.call(attempt, tokens=10)  # estimate 10, real 20: 10 tokens of debt
    start = fake_time.now
    await c.call(attempt, tokens=10)
    assert fake_time.now - start == pytest.approx(2.0)


async def test_server_limits_are_adopted_and_exhaustion_pauses(fake_time: Any) -> None:
    c = controller(fake_time)
    limits = {"limit_requests": 60.0, "remaining_requests": 0.0, "reset_requests": 3.0}

    async def attempt() -> Response:
        return ok(limits=limits)

    await c.call(attempt)
    start = fake_time.now
    await c.call(attempt)
    assert fake_time.now - start >= 3.0  # waited for the announced reset
    assert c._requests is not None
    assert c._requests.rate == 1.0


# --- retries --------------------------------------------------------------------------------
def failing(errors: list[Exception], then: Response | None = None) -> Any:
    calls = {"n": 0}

    async def attempt() -> Response:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        assert then is not None
        return then

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


async def test_retry_after_is_honoured_for_every_request(fake_time: Any) -> None:
    c = controller(fake_time)
    attempt = failing([RetryableError("HTTP 429", status=429, retry_after=7.0)], ok())
    await c.call(attempt)
    assert attempt.calls["n"] == 2
    assert max(fake_time.slept) >= 7.0
    # the pause covered everyone: the hold was set for the whole controller
    assert c._hold_until >= 1000.0 + 7.0


async def test_backoff_grows_with_jitter_and_retries_are_bounded(fake_time: Any) -> None:
    settings = ControlSettings(backoff_base=1.0, backoff_cap=5.0, breaker_failures=1000)
    c = controller(fake_time, settings, max_retries=4)
    attempt = failing([RetryableError(f"HTTP 500 #{i}", status=500) for i in range(10)])
    with pytest.raises(RetryableError, match=r"after 5 attempts.*HTTP 500 #4") as caught:
        await c.call(attempt)
    assert caught.value.status == 500
    assert attempt.calls["n"] == 5
    ceilings = [1.0, 2.0, 4.0, 5.0]
    assert len(fake_time.slept) == 4
    for slept, ceiling in zip(fake_time.slept, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling
    assert c.stats()["gave_up"] == 1


async def test_timeout_is_retried_and_cuts_the_window() -> None:
    c = Controller(
        TeacherConfig(timeout=0.05, max_concurrency=8), settings=ControlSettings(backoff_base=0.001)
    )
    state = {"n": 0}

    async def attempt() -> Response:
        state["n"] += 1
        if state["n"] == 1:
            await asyncio.sleep(5)
        return ok()

    response = await c.call(attempt)
    assert response.text == "ok"
    assert state["n"] == 2
    assert c.window.allowed == 4


async def test_rejections_are_not_retried(fake_time: Any) -> None:
    c = controller(fake_time)
    attempt = failing([RequestRejectedError("HTTP 400: bad", status=400)], ok())
    with pytest.raises(RequestRejectedError):
        await c.call(attempt)
    assert attempt.calls["n"] == 1
    assert not c.is_open


# --- the breaker ------------------------------------------------------------------------------
async def test_breaker_opens_after_a_failing_streak_and_says_what_the_server_answered(
    fake_time: Any,
) -> None:
    settings = ControlSettings(breaker_failures=6, breaker_seconds=5.0)
    c = controller(fake_time, settings, max_retries=100)
    errors: list[Exception] = [RetryableError("HTTP 502 from x: bad gateway", status=502)] * 100
    with pytest.raises(CircuitOpenError) as caught:
        await c.call(failing(list(errors)))
    message = str(caught.value)
    assert "HTTP 502 from x: bad gateway" in message
    assert "run the same command again" in message
    assert c.is_open
    # later calls fail at once, without calling the server
    attempt = failing([], ok())
    with pytest.raises(CircuitOpenError):
        await c.call(attempt)
    assert attempt.calls["n"] == 0


async def test_a_short_blip_does_not_open_the_breaker(fake_time: Any) -> None:
    settings = ControlSettings(breaker_failures=3, breaker_seconds=60.0, backoff_base=0.1)
    c = controller(fake_time, settings, max_retries=10)
    errors: list[Exception] = [RetryableError("HTTP 500", status=500) for _ in range(5)]
    response = await c.call(failing(errors, ok()))
    assert response.text == "ok"
    assert not c.is_open


async def test_every_first_request_refused_opens_the_breaker(fake_time: Any) -> None:
    c = controller(fake_time, ControlSettings(breaker_rejections=3))
    for _ in range(2):
        with pytest.raises(RequestRejectedError):
            await c.call(failing([RequestRejectedError("HTTP 404: no such model", status=404)]))
    with pytest.raises(RequestRejectedError):
        await c.call(failing([RequestRejectedError("HTTP 404: no such model", status=404)]))
    assert c.is_open
    with pytest.raises(CircuitOpenError, match="no such model"):
        await c.call(failing([], ok()))


async def test_refusals_after_a_success_never_open_the_breaker(fake_time: Any) -> None:
    c = controller(fake_time, ControlSettings(breaker_rejections=2))
    await c.call(failing([], ok()))
    for _ in range(5):
        with pytest.raises(RequestRejectedError):
            await c.call(failing([RequestRejectedError("HTTP 400: too long", status=400)]))
    assert not c.is_open


async def test_absurd_retry_after_stops_the_run(fake_time: Any) -> None:
    c = controller(fake_time)
    attempt = failing([RetryableError("HTTP 429: daily quota", status=429, retry_after=86400)])
    with pytest.raises(CircuitOpenError, match="asked to wait 86400 s"):
        await c.call(attempt)


async def test_config_error_stops_every_later_call(fake_time: Any) -> None:
    c = controller(fake_time)
    with pytest.raises(ConfigError):
        await c.call(failing([ConfigError("The server refused the credentials.")]))
    with pytest.raises(CircuitOpenError, match="refused the credentials"):
        await c.call(failing([], ok()))


async def test_breaker_releases_waiting_requests() -> None:
    c = Controller(
        TeacherConfig(max_concurrency=1),
        settings=ControlSettings(breaker_failures=1, breaker_seconds=0.0),
    )
    gate = asyncio.Event()

    async def slow_failure() -> Response:
        await gate.wait()
        raise RetryableError("HTTP 500: down", status=500)

    first = asyncio.ensure_future(c.call(slow_failure))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(c.call(slow_failure))
    await asyncio.sleep(0)
    assert c.in_flight == 1
    gate.set()
    for task in (first, waiting):
        with pytest.raises(CircuitOpenError, match="HTTP 500: down"):
            await task


# --- the sliding window under concurrency ------------------------------------------------------
async def test_sliding_window_keeps_exactly_max_concurrency_in_flight() -> None:
    c = Controller(TeacherConfig(max_concurrency=4))
    state = {"now": 0, "max": 0}
    releases: list[asyncio.Event] = []

    async def attempt() -> Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        event = asyncio.Event()
        releases.append(event)
        await event.wait()
        state["now"] -= 1
        return ok()

    tasks = [asyncio.ensure_future(c.call(attempt)) for _ in range(10)]
    await asyncio.sleep(0.01)
    assert state["now"] == 4  # the window is full
    releases[0].set()  # one finishes: exactly one more starts, no waiting for the others
    await asyncio.sleep(0.01)
    assert state["now"] == 4
    assert len(releases) == 5
    while not all(t.done() for t in tasks):
        for event in releases:
            event.set()
        await asyncio.sleep(0.001)
    assert state["max"] == 4
    assert c.in_flight == 0


async def test_cancelled_callers_give_their_slot_back() -> None:
    c = Controller(TeacherConfig(max_concurrency=1))
    gate = asyncio.Event()

    async def attempt() -> Response:
        await gate.wait()
        return ok()

    running = asyncio.ensure_future(c.call(attempt))
    queued = asyncio.ensure_future(c.call(attempt))
    await asyncio.sleep(0.01)
    queued.cancel()
    running.cancel()
    await asyncio.gather(running, queued, return_exceptions=True)
    assert c.in_flight == 0
    gate.set()
    assert (await c.call(attempt)).text == "ok"
