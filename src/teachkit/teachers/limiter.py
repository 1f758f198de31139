"""Concurrency, rate and failure control shared by every backend.

:meth:`Controller.call` runs one attempt under four guards:

1. **A sliding window** of requests in flight (a request starts as soon as another finishes,
   never in waves), AIMD-controlled by :class:`AdaptiveWindow`: halved on overload answers
   (429/503/529, timeouts), cut gently when latency climbs well above its running average
   (vLLM queues rather than answering 429), grown on every success up to ``max_concurrency``.
   One cut per round trip: only a request sent after the last cut can cut again.
2. **Rate limits**: token buckets for ``rpm``/``tpm`` (else from the server's
   ``x-ratelimit-limit-*`` headers); an exhausted ``remaining`` or a ``Retry-After`` pauses
   every request until the announced time.
3. **Retries** at once per request, with jittered exponential backoff; a retry takes the next
   free slot ahead of new requests, so no retry tail piles up at the end of a run.
4. **A circuit breaker**: a long failing streak, refusals of every first request, or an absurd
   ``Retry-After`` open it; every call then raises :class:`~teachkit.errors.CircuitOpenError`
   saying what the server answered, and the run stops cleanly, ready to resume.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from teachkit.errors import CircuitOpenError, ConfigError, RequestRejectedError, RetryableError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import Response

__all__ = ["AdaptiveWindow", "ControlSettings", "Controller", "TokenBucket"]

log = logging.getLogger("teachkit")

#: statuses that mean "the server is overloaded": the window shrinks
OVERLOAD_STATUSES = frozenset({429, 503, 529})


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """Tuning knobs of :class:`Controller` (the defaults suit hosted APIs and local servers)."""

    #: window multiplier on an overload answer, and on a latency climb
    overload_factor: float = 0.5
    latency_factor: float = 0.8
    #: short-term latency above this multiple of the long-term average counts as a climb
    latency_tolerance: float = 2.0
    latency_warmup: int = 32
    latency_floor: float = 0.02
    short_alpha: float = 0.1
    long_alpha: float = 1 / 256
    #: retry delays: base * 2**(try-1), capped, with half of it random
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    #: a Retry-After longer than this stops the run instead of stalling it
    max_retry_after: float = 600.0
    #: failed attempts in a row that open the breaker (default: max(20, 2 x max_concurrency))...
    breaker_failures: int | None = None
    #: ...provided the failures have gone on for at least this long
    breaker_seconds: float = 10.0
    #: refusals in a row, before any success, that open the breaker (a wrong model name)
    breaker_rejections: int = 25


class TokenBucket:
    """``rate`` tokens per second up to ``capacity``; reservations may run into debt.

    :meth:`reserve` takes the tokens at once and returns how long to wait before using them, so
    concurrent callers queue up in order without waking one another.
    """

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self.tokens = capacity
        self._updated = clock()

    @classmethod
    def per_minute(cls, per_minute: float, clock: Callable[[], float]) -> TokenBucket:
        rate = per_minute / 60.0
        return cls(rate, max(1.0, rate), clock)

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def reserve(self, amount: float) -> float:
        """Take ``amount`` tokens; the seconds to wait until they are covered."""
        self._refill()
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def adjust(self, amount: float) -> None:
        """Take ``amount`` more tokens (or give some back when negative)."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens - amount)


class AdaptiveWindow:
    """AIMD limit on requests in flight, driven by overload answers and latency."""

    def __init__(self, ceiling: int, settings: ControlSettings) -> None:
        self.ceiling = float(ceiling)
        self.limit = float(ceiling)
        #: bumped on every cut; a request remembers the epoch it was sent in
        self.epoch = 0
        self._s = settings
        self._short = 0.0
        self._long = 0.0
        self._samples = 0

    @property
    def allowed(self) -> int:
        return max(1, int(self.limit))

    def _cut(self, factor: float) -> None:
        self.limit = max(1.0, self.limit * factor)
        self.epoch += 1

    def overload(self, epoch: int) -> bool:
        """An overload answer to a request sent in ``epoch``; True when the window was cut."""
        if epoch < self.epoch:
            return False
        self._cut(self._s.overload_factor)
        return True

    def success(self, epoch: int, latency: float, tokens: int) -> bool:
        """A success; True when rising latency cut the window (else it may grow)."""
        s = self._s
        # per token (plus a fixed share for the time to first token); answers faster than the
        # floor count as the floor, so scheduling noise on a fast local server is no "climb"
        sample = max(latency, s.latency_floor) / (tokens + 16)
        self._samples += 1
        n = self._samples
        self._short += (sample - self._short) * max(s.short_alpha, 1.0 / n)
        self._long += (sample - self._long) * max(s.long_alpha, 1.0 / n)
        climbing = self._short > s.latency_tolerance * self._long
        if climbing and n >= s.latency_warmup and epoch >= self.epoch:
            self._cut(s.latency_factor)
            self._long += (self._short - self._long) * 0.25  # bound the reaction to one step
            return True
        if not climbing and self.limit < self.ceiling:
            self.limit = min(self.ceiling, self.limit + 1.0 / self.limit)
        return False


class Controller:
    """Runs attempts for one teacher; see the module docstring for what it guards."""

    def __init__(
        self,
        config: TeacherConfig,
        name: str = "teacher",
        *,
        settings: ControlSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.settings = s = settings or ControlSettings()
        self.window = AdaptiveWindow(config.max_concurrency, s)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._inflight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._requests = TokenBucket.per_minute(config.rpm, clock) if config.rpm else None
        self._tokens = TokenBucket.per_minute(config.tpm, clock) if config.tpm else None
        self._hold_until = 0.0
        self._breaker_failures = s.breaker_failures or max(20, 2 * config.max_concurrency)
        self._failures_in_a_row = 0
        self._streak_started = 0.0
        self._rejections_in_a_row = 0
        self._open_message: str | None = None
        self.successes = 0
        self.attempts = 0
        self.retries = 0
        self.gave_up = 0
        self.cuts = 0
        self.throttled_seconds = 0.0

    @property
    def needs_token_estimates(self) -> bool:
        """True when a tokens-per-minute budget is enforced (callers then pass ``tokens``)."""
        return self._tokens is not None

    @property
    def is_open(self) -> bool:
        return self._open_message is not None

    @property
    def in_flight(self) -> int:
        return self._inflight

    async def call(
        self, attempt: Callable[[], Awaitable[Response]], *, tokens: int = 0
    ) -> Response:
        """Run ``attempt`` until it succeeds, fails for good, or retries run out.

        ``tokens`` is an estimate of the request's total tokens, used by the ``tpm`` budget and
        corrected by the real usage afterwards.
        """
        tries = 0
        retrying = False
        while True:
            self._check_open()
            await self._acquire(retrying)
            try:
                self._check_open()  # it may have opened while this call waited for a slot
                await self._admit(tokens)
                epoch = self.window.epoch
                started = self._clock()
                self.attempts += 1
                try:
                    async with asyncio.timeout(self.config.timeout):
                        response = await attempt()
                except TimeoutError:
                    wait = f"{self.config.timeout:g} s (teacher.timeout)"
                    error, overload = RetryableError(f"The teacher gave no answer in {wait}."), True
                except RetryableError as exc:
                    error, overload = exc, exc.status in OVERLOAD_STATUSES
                except RequestRejectedError as exc:
                    self._on_rejected(exc)
                    raise
                except (ConfigError, CircuitOpenError) as exc:
                    self._trip(str(exc))
                    raise
                else:
                    self._on_success(response, self._clock() - started, epoch, tokens)
                    return response
            finally:
                self._release()
            self._on_failure(error, overload, epoch)
            self._check_open()
            tries += 1
            if tries > self.config.max_retries:
                self.gave_up += 1
                raise RetryableError(
                    f"The teacher still failed after {tries} attempts (teacher.max_retries = "
                    f"{self.config.max_retries}); the last failure: {error}",
                    status=error.status,
                    retry_after=error.retry_after,
                ) from error
            self.retries += 1
            delay = self._backoff(tries, error.retry_after)
            log.debug("%s: retry %d in %.2f s after: %s", self.name, tries, delay, error)
            await self._sleep(delay)
            retrying = True

    # --- the window ---------------------------------------------------------------------------
    async def _acquire(self, first: bool) -> None:
        if not self._waiters and self._inflight < self.window.allowed:
            self._inflight += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._waiters.appendleft if first else self._waiters.append)(future)  # retries first
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._release()  # the slot was handed over just before the cancellation
            elif future in self._waiters:
                self._waiters.remove(future)
            raise

    def _release(self) -> None:
        self._inflight -= 1
        allowed = self.window.allowed
        while self._waiters and self._inflight < allowed:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                self._inflight += 1

    async def _admit(self, tokens: int) -> None:
        wait = self._hold_until - self._clock()
        if self._requests is not None:
            wait = max(wait, self._requests.reserve(1))
        if self._tokens is not None and tokens:
            wait = max(wait, self._tokens.reserve(tokens))
        if wait > 0:
            self.throttled_seconds += wait
            await self._sleep(wait)
            self._check_open()

    # --- outcomes -----------------------------------------------------------------------------
    def _on_success(self, response: Response, latency: float, epoch: int, tokens: int) -> None:
        self.successes += 1
        self._failures_in_a_row = 0
        self._rejections_in_a_row = 0
        usage = response.usage
        if self._tokens is not None and tokens and usage.total:
            self._tokens.adjust(usage.total - tokens)
        if response.limits:
            self._apply_limits(response.limits)
        if self.window.success(epoch, latency, usage.completion_tokens):
            self._log_cut("latency is climbing")

    def _on_failure(self, error: RetryableError, overload: bool, epoch: int) -> None:
        now = self._clock()
        if self._failures_in_a_row == 0:
            self._streak_started = now
        self._failures_in_a_row += 1
        if error.retry_after is not None:
            if error.retry_after > self.settings.max_retry_after:
                self._trip(
                    f"The server asked to wait {error.retry_after:.0f} s before the next request "
                    f"({error})."
                )
                return
            self._hold_until = max(self._hold_until, now + error.retry_after)
        if overload and self.window.overload(epoch):
            self._log_cut(f"server overloaded ({error.status or 'timeout'})")
        streak = now - self._streak_started
        if (
            self._failures_in_a_row >= self._breaker_failures
            and streak >= self.settings.breaker_seconds
        ):
            self._trip(
                f"The teacher failed {self._failures_in_a_row} times in a row over {streak:.0f} s; "
                f"the server last answered: {error}"
            )

    def _log_cut(self, why: str) -> None:
        self.cuts += 1
        log.info("%s: %s; window cut to %d in flight", self.name, why, self.window.allowed)

    def _on_rejected(self, error: RequestRejectedError) -> None:
        if self.successes:
            return
        self._rejections_in_a_row += 1
        if self._rejections_in_a_row >= self.settings.breaker_rejections:
            self._trip(
                f"The first {self._rejections_in_a_row} requests were all refused; the server "
                f"last answered: {error}"
            )

    def _apply_limits(self, limits: dict[str, float]) -> None:
        now = self._clock()
        per_minute = limits.get("limit_requests")
        if per_minute and self._requests is None:
            self._requests = TokenBucket.per_minute(per_minute, self._clock)
            log.info("%s: pacing at the server's %g requests/minute", self.name, per_minute)
        per_minute = limits.get("limit_tokens")
        if per_minute and self._tokens is None:
            self._tokens = TokenBucket.per_minute(per_minute, self._clock)
            log.info("%s: pacing at the server's %g tokens/minute", self.name, per_minute)
        for kind in ("requests", "tokens"):
            remaining = limits.get(f"remaining_{kind}")
            if remaining is not None and remaining < 1:
                reset = limits.get(f"reset_{kind}", 1.0)
                self._hold_until = max(self._hold_until, now + min(reset, 60.0))

    def _backoff(self, tries: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after * (1.0 + 0.1 * self._rng.random())
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2.0 ** (tries - 1))
        return ceiling / 2 + self._rng.random() * ceiling / 2

    # --- the breaker --------------------------------------------------------------------------
    def _trip(self, reason: str) -> None:
        if self._open_message is not None:
            return
        if "run the same command" not in reason:
            reason += (
                " The run stopped; once this is fixed, run the same command again to resume "
                "where it stopped."
            )
        self._open_message = reason
        log.error("%s: circuit open: %s", self.name, reason)
        error = CircuitOpenError(reason)
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(error)

    def _check_open(self) -> None:
        if self._open_message is not None:
            raise CircuitOpenError(self._open_message)

    def stats(self) -> dict[str, Any]:
        return {
            "window": self.window.allowed,
            "max_concurrency": self.config.max_concurrency,
            "attempts": self.attempts,
            "retries": self.retries,
            "gave_up": self.gave_up,
            "window_cuts": self.cuts,
            "throttled_seconds": round(self.throttled_seconds, 3),
            "circuit": "open" if self.is_open else "closed",
        }
