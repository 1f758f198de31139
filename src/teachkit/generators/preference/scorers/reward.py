"""The ``reward`` scorer: a reward model served over HTTP (vLLM's pooling endpoints) scores each
candidate as the conversation ``prompt turns + the candidate``.

==========  =======================================  ==========================================
endpoint    request                                  the score
==========  =======================================  ==========================================
pooling     ``POST /pooling`` ``{model, messages}``  ``data[0].data``: the float, or the last
                                                     token's value of a per-token reward
classify    ``POST /classify`` ``{model, messages}`` ``data[0].probs[class_index]``
score       ``POST /v1/score``                       ``data[0].score`` (a cross-encoder:
            ``{model, text_1: prompt, text_2}``      ``text_1`` is the prompt's turns as text)
==========  =======================================  ==========================================

``base_url`` is the server's root (``http://127.0.0.1:8000``; a trailing ``/v1`` is dropped).
Requests go through a :class:`~teachkit.teachers.Teacher` of their own (concurrency, retries, the
circuit breaker, the run's request cache), so a resumed run does not score a candidate twice. A
candidate the server refuses (HTTP 4xx) is unscored; a server that keeps failing stops the run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field
from yarl import URL

from teachkit.errors import CircuitOpenError, ConfigError, RetryableError, TeacherError
from teachkit.generators.preference.scorers.base import (
    Prompt,
    Scorer,
    ScorerContext,
    ScorerSpecBase,
    Scores,
    conversation_text,
)
from teachkit.recipe.base import Prices, TeacherConfig
from teachkit.teachers.backend import BackendOptions, Capabilities, Request, Response, Usage
from teachkit.teachers.http import HttpBackend, safe_url
from teachkit.teachers.teacher import Teacher

__all__ = ["RewardBackend", "RewardScorer", "RewardSpec", "reward_root"]

log = logging.getLogger("teachkit")

Endpoint = Literal["pooling", "classify", "score"]
_PATHS = {"pooling": "/pooling", "classify": "/classify", "score": "/v1/score"}


def reward_root(base_url: str) -> str:
    """The server root: ``base_url`` without a trailing slash or ``/v1``."""
    url = str(URL(base_url)).rstrip("/")
    return url.removesuffix("/v1")


class RewardSpec(ScorerSpecBase):
    kind: Literal["reward"] = "reward"
    #: the reward server's root URL (vLLM: ``vllm serve MODEL --runner pooling``)
    base_url: str = Field(min_length=1)
    model: str = "reward"
    endpoint: Endpoint = "pooling"
    #: classify: which class probability is the reward (default the last)
    class_index: int = -1
    #: the environment variable holding the key (servers on localhost need none)
    api_key_env: str | None = None
    max_concurrency: int = Field(default=16, ge=1, le=4096)
    timeout: float = Field(default=60.0, gt=0.0)
    max_retries: int = Field(default=4, ge=0, le=100)

    def config(self) -> TeacherConfig:
        return TeacherConfig(
            backend="reward",
            model=self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            max_concurrency=self.max_concurrency,
            timeout=self.timeout,
            max_retries=self.max_retries,
            prices=Prices(input_per_mtok=0.0, output_per_mtok=0.0),
        )

    def build(self, ctx: ScorerContext) -> RewardScorer:
        config = self.config()
        backend = RewardBackend(config, BackendOptions())
        name = self.name or "reward"
        teacher = Teacher(config, name=f"scorer:{name}", backend=backend)
        return RewardScorer(name, teacher, self, ctx)


class RewardBackend(HttpBackend):
    """One reward-model call per request: ``request.messages`` is the conversation to score and
    ``request.options`` says the endpoint; the answer's text is the score."""

    id = "reward"
    capabilities: ClassVar[Capabilities] = Capabilities(chat=True)
    default_model = "reward"
    default_key_env = "REWARD_API_KEY"

    def __init__(self, config: TeacherConfig, options: BackendOptions) -> None:
        super().__init__(config, options)
        self._connect(reward_root(config.base_url or ""), {}, {"Authorization": "Bearer {key}"})

    def payload(self, request: Request) -> tuple[str, dict[str, Any]]:
        endpoint = str(request.options.get("endpoint") or "pooling")
        messages = list(request.messages or [])
        url = f"{self.base_url}{_PATHS[endpoint]}"
        if endpoint == "score":
            prompt, answer = messages[:-1], messages[-1]["content"] if messages else ""
            return url, {"model": self.model, "text_1": conversation_text(prompt), "text_2": answer}
        return url, {"model": self.model, "messages": messages}

    async def generate(self, request: Request) -> Response:
        url, payload = self.payload(request)
        body, limits = await self._http.post(url, payload)
        try:
            value = _score(body, str(request.options.get("endpoint")), request.options)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RetryableError(
                f"{safe_url(url)} answered with JSON that holds no score "
                f"({type(exc).__name__}: {exc})."
            ) from None
        usage = body.get("usage") if isinstance(body, dict) else None
        tokens = int(usage.get("prompt_tokens") or 0) if isinstance(usage, dict) else 0
        return Response(
            texts=[repr(value)],
            finish_reasons=["stop"],
            usage=Usage(tokens, 0),
            model=str(body.get("model") or self.model),
            limits=limits,
        )


def _score(body: Any, endpoint: str, options: dict[str, Any]) -> float:
    item = body["data"][0]
    if endpoint == "score":
        return float(item["score"])
    if endpoint == "classify":
        return float(item["probs"][int(options.get("class_index", -1))])
    data = item["data"]
    while isinstance(data, list):  # [score], or one list per token: the last token's reward
        data = data[-1] if data and isinstance(data[-1], list) else data[0]
    return float(data)


class RewardScorer(Scorer):
    kind: ClassVar[str] = "reward"

    def __init__(self, name: str, teacher: Teacher, spec: RewardSpec, ctx: ScorerContext) -> None:
        super().__init__(name)
        self.teacher = teacher
        self.spec = spec
        self.ctx = ctx
        self._cache_set = False
        self.outcomes: Counter[str] = Counter()

    def request(self, prompt: Prompt, answer: str) -> Request:
        options: dict[str, Any] = {"endpoint": self.spec.endpoint}
        if self.spec.endpoint == "classify":
            options["class_index"] = self.spec.class_index
        messages = [*prompt.messages, {"role": "assistant", "content": answer}]
        return Request(messages=messages, options=options)

    async def _one(self, prompt: Prompt, answer: str) -> tuple[float | None, dict[str, Any]]:
        request = self.request(prompt, answer)
        try:
            response = await self.teacher.complete(request)
        except (ConfigError, CircuitOpenError):
            raise
        except TeacherError as exc:
            self.outcomes["failed"] += 1
            return None, {"reason": "reward_failed", "error": str(exc)[:300]}
        self.outcomes["scored"] += 1
        if log.isEnabledFor(logging.DEBUG):
            key = self.teacher.key(request)
            log.debug("answer job=%s key=%s cached=%d", self.name, key, int(response.cached))
        return float(response.text), {}

    async def score(self, prompt: Prompt, candidates: Sequence[str]) -> Scores:
        if not self._cache_set and self.ctx.teacher_factory is not None:
            # the run's request cache (the recipe teacher holds it once the run is open)
            self.teacher.cache = self.ctx.teacher_factory(None, "teacher").cache
            self._cache_set = True
        results = await asyncio.gather(*(self._one(prompt, text) for text in candidates))
        return Scores([v for v, _ in results], [d for _, d in results])

    def stats(self) -> dict[str, Any]:
        teacher = self.teacher.stats()
        keep = ("base_url", "requests", "cached", "failed", "retries")
        return {**{k: teacher[k] for k in keep if k in teacher}, **dict(self.outcomes)}

    async def aclose(self) -> None:
        await self.teacher.aclose()
