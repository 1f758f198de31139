"""An OpenAI- and Anthropic-compatible fake server for tests, benchmarks and offline examples.

It serves, over real HTTP:

* ``POST /v1/chat/completions`` and ``POST /v1/completions`` (OpenAI shape: ``n``, ``usage``,
  ``max_tokens`` truncation with ``finish_reason: length``, ``stop``, ``response_format``);
* ``POST /v1/messages`` (Anthropic Messages shape, forced tools for JSON);
* ``GET /v1/models``, ``GET /_stats`` (counters as JSON) and ``POST /_reset``.

Answers come from a :data:`~teachkit.testing.script.Script`; ``latency`` and ``jitter``
(seconds) delay each answer, ``capacity`` queues what exceeds a batch limit; a
:class:`FaultPlan` injects 429 with ``Retry-After``, 500, 503/529, dropped connections, hangs,
truncated answers and malformed bodies. Usage counts one token per whitespace-separated word.
Use it in-process::

    async with FakeServer({"capital of France": "Paris."}, latency=0.05) as server:
        config = TeacherConfig(backend="openai", model="fake", base_url=server.base_url)

or from the shell in its own process: ``teachkit serve-fake --port 8000 --latency 0.1``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from teachkit.testing.script import Api, FakeCall, SchemaTooLarge, Script, Scripter

__all__ = ["FAULTS", "MAX_BODY", "MAX_N", "FakeServer", "FaultPlan", "request_problem"]

log = logging.getLogger("teachkit")

#: fault names usable in :attr:`FaultPlan.first`
FAULTS = ("ok", "429", "500", "503", "drop", "hang", "truncated", "malformed", "error200")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Which requests fail, and how. Rates are probabilities per API request (seeded).

    ``first`` scripts the fate of the first requests exactly (e.g. ``("429", "ok")``) before the
    rates apply, which makes tests deterministic under concurrency.
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_hang: float = 0.0
    rate_truncated: float = 0.0
    rate_malformed: float = 0.0
    #: HTTP 200 whose body is an error (no choices) that echoes the credentials it was sent,
    #: as some proxies do
    rate_error200: float = 0.0
    first: tuple[str, ...] = ()
    #: the Retry-After sent with 429 and 503 (None: no header)
    retry_after: float | None = 1.0
    #: how long a "hang" holds the request before answering
    hang_seconds: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [f for f in self.first if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; use some of {', '.join(FAULTS)}")
        rates = [getattr(self, f"rate_{name}") for name in FAULTS[1:]]
        if any(not math.isfinite(r) or r < 0 for r in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must be >= 0 and add up to at most 1")
        _seconds("hang_seconds", self.hang_seconds)
        if self.retry_after is not None:
            _seconds("retry_after", self.retry_after)

    def pick(self, rng: random.Random, index: int) -> str:
        if index < len(self.first):
            return self.first[index]
        draw = rng.random()
        for name in FAULTS[1:]:
            rate: float = getattr(self, f"rate_{name}")
            if draw < rate:
                return name
            draw -= rate
        return "ok"


#: per-request work bounds: body bytes, choices, tokens, stop sequences
MAX_BODY = 8 * 2**20
MAX_N = 128
MAX_TOKENS = 10_000_000
MAX_STOPS = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def request_problem(api: Api, body: dict[str, Any]) -> str | None:
    """Why the fake server refuses ``body`` (answered 400), or None. Bounds the work a request
    can ask for; the schema a request carries is bounded while its instance is built."""
    n = body.get("n")
    if n is not None and not (_is_int(n) and 1 <= n <= MAX_N):
        return f"'n' must be a whole number from 1 to {MAX_N}."
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and not (_is_int(value) and 1 <= value <= MAX_TOKENS):
            return f"'{key}' must be a whole number from 1 to {MAX_TOKENS}."
    for key in ("stop", "stop_sequences"):
        stops = body.get(key)
        if stops is None or isinstance(stops, str):
            continue
        if not (isinstance(stops, list) and len(stops) <= MAX_STOPS):
            return f"'{key}' must be a string or a list of at most {MAX_STOPS} strings."
        if not all(isinstance(s, str) for s in stops):
            return f"'{key}' must hold strings only."
    temperature = body.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, int | float) and not isinstance(temperature, bool)
    ):
        return "'temperature' must be a number."
    if body.get("seed") is not None and not _is_int(body.get("seed")):
        return "'seed' must be a whole number."
    messages = body.get("messages")
    if api != "completions" and not (
        isinstance(messages, list) and all(isinstance(m, dict) for m in messages)
    ):
        return "'messages' must be a list of {role, content} objects."
    for key in ("response_format", "tool_choice"):
        if body.get(key) is not None and not isinstance(body.get(key), dict):
            return f"'{key}' must be an object."
    tools = body.get("tools")
    if tools is not None and not (
        isinstance(tools, list) and all(isinstance(t, dict) for t in tools)
    ):
        return "'tools' must be a list of objects."
    return None


def _seconds(name: str, value: float, limit: float = 86_400.0) -> None:
    if not (math.isfinite(value) and 0 <= value <= limit):
        raise ValueError(f"{name} must be a number of seconds between 0 and {limit:g}")


def _count(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    """Message content as text (a string, or a list of text parts/blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _shape(text: str, body: dict[str, Any], truncated: bool) -> tuple[str, str]:
    """Apply stop sequences, max_tokens and an injected truncation; text and finish reason."""
    stops = body.get("stop") or body.get("stop_sequences") or []
    for stop in [stops] if isinstance(stops, str) else stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    words = text.split(" ")
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if truncated:
        return " ".join(words[: max(1, len(words) // 2)]), "length"
    if limit and _count(text) > int(limit):
        return " ".join(words[: int(limit)]), "length"
    return text, "stop"


class FakeServer:
    """See the module docstring. ``port=0`` picks a free port; read :attr:`url` after start."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        ignore_n: bool = False,
        capacity: int | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        _seconds("latency", latency, 3600.0)
        _seconds("jitter", jitter, 3600.0)
        self.scripter = Scripter(script)
        self.latency = latency
        self.jitter = jitter
        self.faults = faults or FaultPlan()
        self.host = host
        self.port = port
        self.api_key = api_key
        self.headers = dict(headers or {})
        #: answer one choice whatever ``n`` asks (as some servers do)
        self.ignore_n = ignore_n
        self.capacity = capacity
        #: the largest request body read (larger ones are answered 413)
        self.max_body = max_body
        self._rng = random.Random(self.faults.seed)
        self._runner: web.AppRunner | None = None
        self.reset()

    @property
    def capacity(self) -> int | None:
        """Answers computed at once; more requests queue, as on a server with a batch limit
        (vLLM's ``max_num_seqs``). None: no limit. May be changed while serving."""
        return self._capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        self._capacity = value
        self._slots = asyncio.Semaphore(value) if value else None

    # --- lifecycle ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Zero every counter (the fault sequence starts again too)."""
        #: requests per path
        self.requests: Counter[str] = Counter()
        #: injected faults per kind
        self.fault_counts: Counter[str] = Counter()
        #: API calls (chat, completions, messages), answered or not
        self.calls = 0
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        #: how requests authenticated: "bearer", "x-api-key" or "none"
        self.auth: Counter[str] = Counter()
        #: the last request bodies, oldest first
        self.bodies: deque[dict[str, Any]] = deque(maxlen=1000)
        self._rng = random.Random(self.faults.seed)

    async def start(self) -> str:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_reset", self._reset)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.debug("fake server listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The root URL (``http://127.0.0.1:PORT``): Anthropic-style ``base_url``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style ``base_url`` (root + ``/v1``)."""
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "answered": self.answered,
            "requests": dict(self.requests),
            "faults": dict(self.fault_counts),
            "auth": dict(self.auth),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }

    # --- plumbing -----------------------------------------------------------------------------
    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats(), dumps=lambda o: orjson.dumps(o).decode())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _models(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def _error(self, api: Api, status: int, kind: str, message: str) -> web.Response:
        if api == "messages":
            body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            body = {"error": {"message": message, "type": kind, "code": None}}
        headers = {}
        if status in (429, 503, 529) and self.faults.retry_after is not None:
            headers["Retry-After"] = f"{self.faults.retry_after:g}"
        return web.Response(
            status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
        )

    def _authorised(self, request: web.Request) -> tuple[bool, str]:
        bearer = request.headers.get("Authorization", "")
        given = bearer.removeprefix("Bearer ") if bearer else request.headers.get("x-api-key", "")
        self.auth["bearer" if bearer else "x-api-key" if given else "none"] += 1
        return self.api_key is None or given == self.api_key, given

    async def _serve(self, request: web.Request, api: Api) -> web.StreamResponse:
        self.requests[request.path] += 1
        index = self.calls
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            ok, given = self._authorised(request)
            if not ok:  # echoes the key, as some servers do: clients must mask it
                return self._error(api, 401, "authentication_error", f"Invalid API key: {given}")
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                return self._error(api, 400, "invalid_request_error", "The body is not JSON.")
            if not isinstance(body, dict):
                return self._error(api, 400, "invalid_request_error", "The body is not an object.")
            problem = request_problem(api, body)
            if problem:
                return self._error(api, 400, "invalid_request_error", problem)
            self.bodies.append(body)
            fault = self.faults.pick(self._rng, index)
            if fault != "ok":
                self.fault_counts[fault] += 1
            if fault == "429":
                return self._error(api, 429, "rate_limit_error", "Rate limit reached (injected).")
            if fault == "500":
                return self._error(api, 500, "server_error", "The server failed (injected 500).")
            if fault == "503":
                status = 529 if api == "messages" else 503
                return self._error(api, status, "overloaded_error", "Overloaded (injected).")
            if fault == "error200":
                echoed = {"error": {"message": f"Upstream refused the key {given}.", "code": 400}}
                return web.Response(body=orjson.dumps(echoed), content_type="application/json")
            if fault == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            await self._delay(self.faults.hang_seconds if fault == "hang" else 0.0)
            try:
                answer = self._answer(api, body, index, truncated=fault == "truncated")
            except SchemaTooLarge as exc:
                return self._error(api, 400, "invalid_request_error", str(exc))
            data = orjson.dumps(answer)
            if fault == "malformed":
                data = data[: len(data) // 2]
            else:
                self.answered += 1
            return web.Response(body=data, content_type="application/json", headers=self.headers)
        finally:
            self.in_flight -= 1

    async def _delay(self, extra: float) -> None:
        delay = self.latency + extra
        if self.jitter:
            delay += self._rng.uniform(-self.jitter, self.jitter)
        if self._slots is not None:
            async with self._slots:
                await asyncio.sleep(max(0.0, delay))
        elif delay > 0:
            await asyncio.sleep(delay)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "chat")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "completions")

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "messages")

    # --- answers ------------------------------------------------------------------------------
    def _answer(self, api: Api, body: dict[str, Any], index: int, truncated: bool) -> Any:
        if api == "messages":
            return self._message(body, index, truncated)
        if api == "chat":
            messages = body.get("messages") or []
            users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            prompt = _text_of(users[-1].get("content")) if users else ""
            prompt_tokens = sum(_count(_text_of(m.get("content"))) for m in messages)
        else:
            prompt = str(body.get("prompt") or "")
            prompt_tokens = _count(prompt)
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
        wants_json = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
        choices = []
        completion_tokens = 0
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        for i in range(n):
            text = self.scripter.answer(FakeCall(api, prompt, body, i), schema, wants_json)
            text, finish = _shape(text, body, truncated)
            completion_tokens += _count(text)
            if api == "chat":
                choice: dict[str, Any] = {"message": {"role": "assistant", "content": text}}
            else:
                choice = {"text": text}
            choices.append({"index": i, **choice, "finish_reason": finish, "logprobs": None})
        kind = "chat.completion" if api == "chat" else "text_completion"
        return {
            "id": f"fake-{index}",
            "object": kind,
            "created": int(time.time()),
            "model": body.get("model") or "fake",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _message(self, body: dict[str, Any], index: int, truncated: bool) -> Any:
        messages = body.get("messages") or []
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        prompt = _text_of(users[-1].get("content")) if users else ""
        prompt_tokens = _count(_text_of(body.get("system"))) + sum(
            _count(_text_of(m.get("content"))) for m in messages if isinstance(m, dict)
        )
        choice = body.get("tool_choice") or {}
        tool = None
        if isinstance(choice, dict) and choice.get("type") == "tool":
            tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
            tool = tools.get(choice.get("name"))
        call = FakeCall("messages", prompt, body, 0)
        if tool is not None:
            text = self.scripter.answer(call, tool.get("input_schema") or {}, True)
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                data = {"answer": text}
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{index}",
                "name": tool.get("name"),
                "input": data,
            }
            stop, out_tokens = "tool_use", _count(text)
        else:
            text, finish = _shape(self.scripter.answer(call, None, False), body, truncated)
            block = {"type": "text", "text": text}
            stop, out_tokens = ("max_tokens" if finish == "length" else "end_turn"), _count(text)
        return {
            "id": f"msg_{index}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or "fake",
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": out_tokens},
        }
