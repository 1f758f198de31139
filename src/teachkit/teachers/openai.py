"""Any OpenAI-compatible server: OpenAI, vLLM, SGLang, llama.cpp server, Ollama, TGI, LM Studio
and hosted providers.

Chat requests go to ``{base_url}/chat/completions``, raw prompts to ``{base_url}/completions``.
``base_url`` follows the OpenAI convention and includes the version prefix
(``http://localhost:8000/v1``); a bare ``http://host:port`` gets ``/v1`` appended. The key is read
from the environment variable named by ``teacher.api_key_env`` (default ``OPENAI_API_KEY``); a
server on localhost needs none.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator
from yarl import URL

from teachkit.errors import RetryableError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import BackendOptions, Capabilities, Request, Response, Usage
from teachkit.teachers.cost import estimate_request_tokens, estimate_tokens
from teachkit.teachers.http import (
    HttpBackend,
    credential_free_headers,
    endpoint,
    merge_choices,
    safe_url,
)

__all__ = ["OpenAIBackend", "OpenAIOptions", "derive_seed"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def derive_seed(seed: int, sample: int, choice: int = 0) -> int:
    """The seed sent for draw ``sample`` (and ``choice``, when n is drawn one by one): the same
    request gets the same answer, other draws get other seeds."""
    return (int(seed) * 1_000_003 + sample + choice * 7_919_191) % (2**31 - 1)


def api_root(base_url: str) -> str:
    """``base_url`` without a trailing slash, with ``/v1`` added when it has no path at all
    (a query string is kept)."""
    url = URL(base_url)
    path = url.path.rstrip("/") or "/v1"
    return str(url.with_path(path).with_query(url.query).with_fragment(None))


class OpenAIOptions(BackendOptions):
    """``teacher.options`` of the openai backend."""

    #: how a JSON schema is asked for: response_format json_schema (OpenAI, vLLM, SGLang,
    #: llama.cpp, Ollama), json_object (JSON without a schema), or off (prompt only)
    json_mode: Literal["json_schema", "json_object", "off"] = "json_schema"
    #: OpenAI's strict structured outputs (the schema must then be strict-compatible)
    strict_schema: bool = False
    #: False for servers that ignore ``n``: n > 1 is then sent as n separate requests
    #: (missing choices are also topped up this way when a server returns fewer than asked)
    supports_n: bool = True
    #: newer OpenAI reasoning models want max_completion_tokens instead of max_tokens
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    #: merged into every request body (e.g. vLLM's ``top_k`` or ``chat_template_kwargs``)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    #: extra headers (never secrets: the key comes from ``api_key_env`` only)
    extra_headers: dict[str, str] = Field(default_factory=dict)

    _headers = field_validator("extra_headers")(credential_free_headers)


class OpenAIBackend(HttpBackend[OpenAIOptions]):
    id = "openai"
    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, completion=True, json_schema=True, n=True, logprobs=False
    )
    default_model = "gpt-4o-mini"
    default_key_env = "OPENAI_API_KEY"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, config: TeacherConfig, options: OpenAIOptions) -> None:
        super().__init__(config, options)
        self.opts = options
        self._connect(
            api_root(config.base_url or DEFAULT_BASE_URL),
            dict(options.extra_headers),
            {"Authorization": "Bearer {key}"},
        )
        self._chat_url = endpoint(self.base_url, "chat/completions")
        self._completions_url = endpoint(self.base_url, "completions")
        vars(self)["capabilities"] = Capabilities(
            chat=True,
            completion=True,
            json_schema=options.json_mode != "off",
            n=options.supports_n,
            logprobs=False,
        )

    # --- request ------------------------------------------------------------------------------
    def _body(self, request: Request, n: int, seed_offset: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if request.messages is not None:
            body["messages"] = request.messages
        else:
            body["prompt"] = request.prompt
        for name, value in request.options.items():
            if value is None or name == "n":
                continue
            if name == "max_tokens":
                body[self.opts.max_tokens_field] = value
            elif name == "seed":
                body["seed"] = derive_seed(value, request.sample, seed_offset)
            else:
                body[name] = value
        if n > 1:
            body["n"] = n
        schema = request.json_schema
        if schema is not None and self.opts.json_mode != "off":
            if self.opts.json_mode == "json_object":
                body["response_format"] = {"type": "json_object"}
            else:
                spec = {"name": "output", "schema": schema, "strict": self.opts.strict_schema}
                body["response_format"] = {"type": "json_schema", "json_schema": spec}
        if self.opts.extra_body:
            body.update(self.opts.extra_body)
        return body

    async def generate(self, request: Request) -> Response:
        n = int(request.options.get("n") or 1)
        if n > 1 and not self.opts.supports_n:
            return await self._fan_out(request, 0, n)
        response = await self._call(request, n)
        missing = n - len(response.texts)
        if missing > 0:  # the server ignored n: draw the rest one by one
            extra = await self._fan_out(request, len(response.texts), missing)
            response.texts += extra.texts
            response.finish_reasons += extra.finish_reasons
            response.usage.add(extra.usage)
        return response

    async def _fan_out(self, request: Request, first: int, count: int) -> Response:
        parts = await asyncio.gather(
            *(self._call(request, 1, seed_offset=first + i) for i in range(count))
        )
        return merge_choices(list(parts))

    async def _call(self, request: Request, n: int, seed_offset: int = 0) -> Response:
        chat = request.messages is not None
        url = self._chat_url if chat else self._completions_url
        body, limits = await self._http.post(url, self._body(request, n, seed_offset))
        try:
            return self._parse(body, chat, request, limits)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RetryableError(
                f"{safe_url(url)} answered with JSON that is not a completion "
                f"({type(exc).__name__}: {exc})."
            ) from None

    def _parse(
        self, body: Any, chat: bool, request: Request, limits: dict[str, float] | None
    ) -> Response:
        choices = body.get("choices") if isinstance(body, dict) else None
        if not choices:
            error = body.get("error") if isinstance(body, dict) else None
            raise ValueError(f"no choices in the answer{f' (error: {error})' if error else ''}")
        if len(choices) > 1:
            choices = sorted(choices, key=lambda c: c.get("index") or 0)
        texts: list[str] = []
        reasons: list[str] = []
        for choice in choices:
            if chat:
                message = choice["message"]
                content = message.get("content")
                if content is None:  # a refusal is content too: the filters judge it
                    content = message.get("refusal") or ""
                elif isinstance(content, list):
                    content = "".join(part.get("text", "") for part in content)
            else:
                content = choice["text"]
            texts.append(str(content))
            reasons.append(choice.get("finish_reason") or "stop")
        usage = body.get("usage")
        if usage:
            counted = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        else:  # some servers send no usage: estimate, so cost and budgets still move
            counted = Usage(
                estimate_request_tokens(request), sum(estimate_tokens(t) for t in texts)
            )
        return Response(
            texts=texts,
            finish_reasons=reasons,
            usage=counted,
            model=str(body.get("model") or self.model),
            limits=limits,
        )
