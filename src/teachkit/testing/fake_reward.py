"""Reward-model endpoints of the fake server, shaped like vLLM's pooling API.

* ``POST /pooling`` ``{model, messages}`` or ``{model, input}`` ->
  ``{"object": "list", "data": [{"index": 0, "object": "pooling", "data": [score]}], ...}``
* ``POST /classify`` (same inputs) -> ``data: [{"index", "label", "probs": [1 - p, p],
  "num_classes": 2}]`` with ``p`` the score squashed into (0, 1)
* ``POST /v1/score`` and ``POST /score`` ``{model, text_1, text_2}`` ->
  ``data: [{"index", "object": "score", "score"}]``, one per ``text_2``

What is scored is the candidate: the last assistant message, the ``input`` text, or ``text_2``.
The score comes from a :class:`RewardScript` set with :func:`script_reward`: a callable
``(text) -> float | None`` or a rule table ``[(regex, score), ...]`` (the first match wins);
``None`` (or no matching rule with ``default=None``) answers HTTP 400, as a server refusing an
input does. Without a script the score is a deterministic function of the text in [0, 1] with
eleven steps, so ties happen as they do with coarse reward models.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = ["RewardScript", "add_reward_routes", "default_reward", "script_reward"]

RewardFn = Callable[[str], float | None]


def default_reward(text: str) -> float:
    """A deterministic score of ``text`` in {0.0, 0.1, ..., 1.0}."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") % 11) / 10


@dataclass
class RewardScript:
    """How the fake reward model scores a text; counts what it was asked."""

    fn: RewardFn | None = None
    rules: Sequence[tuple[str, float | None]] = ()
    #: the score when no rule matches (None: refuse with HTTP 400)
    default: float | Callable[[str], float | None] | None = default_reward
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._compiled = [(re.compile(p, re.S), score) for p, score in self.rules]

    def score(self, text: str) -> float | None:
        self.calls.append(text)
        if self.fn is not None:
            return self.fn(text)
        for pattern, value in self._compiled:
            if pattern.search(text):
                return value
        return self.default(text) if callable(self.default) else self.default


_SCRIPTS: weakref.WeakKeyDictionary[Any, RewardScript] = weakref.WeakKeyDictionary()


def script_reward(
    server: Any,
    fn: RewardFn | None = None,
    *,
    rules: Sequence[tuple[str, float | None]] = (),
    default: float | Callable[[str], float | None] | None = default_reward,
) -> RewardScript:
    """Make ``server`` (a :class:`~teachkit.testing.FakeServer`) score with ``fn`` or ``rules``;
    returns the script, whose ``calls`` list every text scored."""
    script = RewardScript(fn=fn, rules=rules, default=default)
    _SCRIPTS[server] = script
    return script


def _candidate(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages")
    if isinstance(messages, list):
        answers = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        content = answers[-1].get("content") if answers else ""
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return [str(content or "")]
    value = body.get("input")
    return [str(v) for v in value] if isinstance(value, list) else [str(value or "")]


def _usage(texts: list[str]) -> dict[str, int]:
    tokens = sum(len(t.split()) for t in texts)
    return {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0}


class _Routes:
    def __init__(self, server: Any) -> None:
        self.server = weakref.ref(server)

    def _script(self) -> RewardScript:
        server = self.server()
        script = _SCRIPTS.get(server) if server is not None else None
        if script is None:
            script = RewardScript()
            if server is not None:
                _SCRIPTS[server] = script
        return script

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        server = self.server()
        if server is not None:
            server.requests[request.path] += 1
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "The body is not JSON.")
        if not isinstance(body, dict):
            return _error(400, "The body is not an object.")
        return body

    def _scores(self, texts: list[str]) -> list[float] | web.Response:
        script = self._script()
        scores = [script.score(t) for t in texts]
        if any(s is None for s in scores):
            return _error(400, "The reward model cannot score this input (scripted refusal).")
        return [float(s) for s in scores if s is not None]

    async def pooling(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        texts = _candidate(body)
        scores = self._scores(texts)
        if isinstance(scores, web.Response):
            return scores
        data = [{"index": i, "object": "pooling", "data": [s]} for i, s in enumerate(scores)]
        return _json(body, "pool", data, texts)

    async def classify(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        texts = _candidate(body)
        scores = self._scores(texts)
        if isinstance(scores, web.Response):
            return scores
        data = []
        for i, s in enumerate(scores):
            p = 1.0 / (1.0 + math.exp(-s))
            data.append({"index": i, "label": "good", "probs": [1.0 - p, p], "num_classes": 2})
        return _json(body, "classify", data, texts)

    async def score(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        second = body.get("text_2")
        texts = [str(t) for t in second] if isinstance(second, list) else [str(second or "")]
        scores = self._scores(texts)
        if isinstance(scores, web.Response):
            return scores
        data = [{"index": i, "object": "score", "score": s} for i, s in enumerate(scores)]
        return _json(body, "score", data, texts)


def _error(status: int, message: str) -> web.Response:
    body = {"object": "error", "message": message, "type": "BadRequestError", "code": status}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _json(body: dict[str, Any], prefix: str, data: list[Any], texts: list[str]) -> web.Response:
    answer = {
        "id": f"{prefix}-{time.monotonic_ns()}",
        "object": "list",
        "created": int(time.time()),
        "model": body.get("model") or "fake-reward",
        "data": data,
        "usage": _usage(texts),
    }
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


def add_reward_routes(app: web.Application, server: Any) -> None:
    """Serve the reward endpoints for ``server`` on ``app`` (the fake server calls this)."""
    routes = _Routes(server)
    app.router.add_post("/pooling", routes.pooling)
    app.router.add_post("/classify", routes.classify)
    app.router.add_post("/v1/score", routes.score)
    app.router.add_post("/score", routes.score)
