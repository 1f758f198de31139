"""A Teacher = request cache ▸ controller (concurrency, rate, retries) ▸ backend.

Backends stay tiny because everything here is shared: a cached answer is never paid for twice,
usage and cost are counted per teacher, and failures surface as :class:`TeacherError`.

Every error a backend raises passes through :meth:`Teacher._attempt` before anything else sees
it (the controller's retries and logs, the manifest, rejected records, the CLI): the backend's
secrets and anything shaped like a key are masked there, and the error gains the context
``backend``, ``model`` and ``base_url`` (without credentials).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from teachkit.errors import TeachkitError
from teachkit.recipe.base import Prices, TeacherConfig
from teachkit.teachers.backend import Backend, Capabilities, Request, Response, Usage, request_key
from teachkit.teachers.cache import RequestCache
from teachkit.teachers.cost import estimate_cost, estimate_request_tokens, price_for
from teachkit.teachers.limiter import Controller
from teachkit.teachers.redact import Redactor
from teachkit.teachers.registry import build_backend

__all__ = ["Teacher"]

log = logging.getLogger("teachkit")

#: completion tokens assumed for the tokens-per-minute budget when max_tokens is not set
_DEFAULT_COMPLETION_ESTIMATE = 512


class Teacher:
    def __init__(
        self,
        config: TeacherConfig,
        *,
        name: str = "teacher",
        cache: RequestCache | None = None,
        backend: Backend[Any] | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.backend = backend or build_backend(config)
        self.redactor = Redactor(self.backend.secrets())
        described = self.backend.describe()
        #: what every error from this teacher carries as context (no secrets: describe() has none)
        self._error_context = {
            k: described.get(k) for k in ("backend", "model", "base_url") if described.get(k)
        }
        self.cache = cache
        self.controller = Controller(config, name=name)
        self.usage = Usage()
        self.requests = 0  # sent to the backend
        self.cached = 0  # answered from the cache
        self.failed = 0
        self.busy_seconds = 0.0
        self._started = False
        #: USD per million tokens (None: unknown, cost counts as 0)
        self.prices: Prices | None = price_for(
            self.backend.id,
            self.backend.model,
            config.prices,
            local=self.backend.capabilities.local,
        )
        if self.prices is None:
            log.info(
                "%s: no price known for %s model %r; its cost counts as 0 (set teacher.prices)",
                name,
                self.backend.id,
                self.backend.model,
            )

    @property
    def backend_id(self) -> str:
        return self.backend.id

    @property
    def model(self) -> str:
        return self.backend.model

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    @property
    def cost_usd(self) -> float:
        """What the answers received so far cost (cached answers are free)."""
        return estimate_cost(self.usage.prompt_tokens, self.usage.completion_tokens, self.prices)

    async def start(self) -> None:
        if not self._started:
            await self.backend.start()
            self._started = True

    def key(self, request: Request) -> str:
        return request_key(self.backend.id, self.backend.model, request)

    def lookup(self, request: Request) -> Response | None:
        """The cached answer for ``request``, if any (no call is made)."""
        if self.cache is None:
            return None
        return self.cache.get(self.key(request))

    def _token_estimate(self, request: Request) -> int:
        options = request.options
        completion = options.get("max_tokens") or _DEFAULT_COMPLETION_ESTIMATE
        return estimate_request_tokens(request) + int(completion) * int(options.get("n") or 1)

    async def complete(self, request: Request) -> Response:
        key = self.key(request) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.cached += 1
                return hit
        if not self._started:
            await self.start()
        controller = self.controller
        tokens = self._token_estimate(request) if controller.needs_token_estimates else 0
        backend = self.backend
        started = time.perf_counter()
        try:
            response = await controller.call(lambda: self._attempt(request), tokens=tokens)
        except Exception as exc:  # the controller's own errors (gave up, circuit open) too
            self.failed += 1
            self._clean_error(exc)
            raise
        response.latency = time.perf_counter() - started
        self.busy_seconds += response.latency
        self.requests += 1
        self.usage.add(response.usage)
        if self.cache is not None:
            self.cache.put(key, backend.id, backend.model, response)
        return response

    async def _attempt(self, request: Request) -> Response:
        """One call to the backend; the one redaction point for what comes back."""
        try:
            response = await self.backend.generate(request)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._clean_error(exc)
            raise
        return self.redactor.response(response)

    def _clean_error(self, exc: BaseException) -> None:
        """Mask secrets in ``exc`` and give it this teacher's context."""
        self.redactor.error(exc)
        if isinstance(exc, TeachkitError):
            for key, value in self._error_context.items():
                exc.context.setdefault(key, value)

    def stats(self) -> dict[str, Any]:
        return {
            **self.backend.describe(),
            "requests": self.requests,
            "cached": self.cached,
            "failed": self.failed,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "priced": self.prices is not None,
            **self.controller.stats(),
        }

    async def aclose(self) -> None:
        await self.backend.aclose()
