"""Anthropic's native Messages API (``POST {base_url}/v1/messages``).

System turns become the top-level ``system`` field; a raw prompt is sent as one user turn (the
API has no raw completion). A JSON schema is enforced by forcing a single tool whose input is the
schema, and the tool input comes back as the answer text. ``n`` > 1 is drawn as n requests. The
key is read from the variable named by ``teacher.api_key_env`` (default ``ANTHROPIC_API_KEY``);
a server on localhost needs none.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson
from pydantic import Field, field_validator
from yarl import URL

from teachkit.errors import RetryableError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import BackendOptions, Capabilities, Request, Response, Usage
from teachkit.teachers.http import (
    HttpBackend,
    credential_free_headers,
    endpoint,
    merge_choices,
    safe_url,
)

__all__ = ["AnthropicBackend", "AnthropicOptions"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
_TOOL = "answer"
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}


def _tool_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A tool input schema (must be an object) and whether the answer was wrapped in one."""
    if schema.get("type") == "object":
        return schema, False
    return {"type": "object", "properties": {"value": schema}, "required": ["value"]}, True


class AnthropicOptions(BackendOptions):
    """``teacher.options`` of the anthropic backend."""

    #: the ``anthropic-version`` header
    version: str = "2023-06-01"
    #: max_tokens when the recipe sets none (the Messages API requires one)
    default_max_tokens: int = Field(default=4096, ge=1, le=10_000_000)
    #: merged into every request body (e.g. ``top_k``, ``thinking``, ``metadata``)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    #: extra headers such as ``anthropic-beta`` (never secrets)
    extra_headers: dict[str, str] = Field(default_factory=dict)

    _headers = field_validator("extra_headers")(credential_free_headers)


def _root(base_url: str) -> str:
    """The server root: ``base_url`` without a trailing ``/v1`` (a query string is kept)."""
    url = URL(base_url)
    path = url.path.rstrip("/")
    path = path[: -len("/v1")] if path.endswith("/v1") else path
    root = str(url.with_path(path or "/").with_query(url.query).with_fragment(None))
    return root if url.query else root.rstrip("/")


class AnthropicBackend(HttpBackend[AnthropicOptions]):
    id = "anthropic"
    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, completion=False, json_schema=True, n=False, logprobs=False
    )
    default_model = "claude-sonnet-4-5"
    default_key_env = "ANTHROPIC_API_KEY"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, config: TeacherConfig, options: AnthropicOptions) -> None:
        super().__init__(config, options)
        self.opts = options
        self._connect(
            _root(config.base_url or DEFAULT_BASE_URL),
            {"anthropic-version": options.version, **options.extra_headers},
            {"x-api-key": "{key}"},
        )
        self._url = endpoint(self.base_url, "v1/messages")

    def _body(self, request: Request) -> tuple[dict[str, Any], bool]:
        messages = request.messages or [{"role": "user", "content": request.prompt or ""}]
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [
            {"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"
        ]
        o = request.options
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": o.get("max_tokens") or self.opts.default_max_tokens,
            "messages": turns,
        }
        if system:
            body["system"] = system
        if o.get("temperature") is not None:
            body["temperature"] = min(1.0, float(o["temperature"]))  # the API's range is 0..1
        if o.get("top_p") is not None:
            body["top_p"] = o["top_p"]
        if o.get("top_k") is not None:
            body["top_k"] = o["top_k"]
        if o.get("stop"):
            body["stop_sequences"] = list(o["stop"])
        wrapped = False
        if request.json_schema is not None:
            schema, wrapped = _tool_schema(request.json_schema)
            body["tools"] = [
                {
                    "name": _TOOL,
                    "description": "Give the answer in this form.",
                    "input_schema": schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": _TOOL}
        if self.opts.extra_body:
            body.update(self.opts.extra_body)
        return body, wrapped

    async def generate(self, request: Request) -> Response:
        n = int(request.options.get("n") or 1)
        if n == 1:
            return await self._call(request)
        parts = await asyncio.gather(*(self._call(request) for _ in range(n)))
        return merge_choices(list(parts))

    async def _call(self, request: Request) -> Response:
        payload, wrapped = self._body(request)
        body, limits = await self._http.post(self._url, payload)
        try:
            return self._parse(body, wrapped, limits)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RetryableError(
                f"{safe_url(self._url)} answered with JSON that is not a message "
                f"({type(exc).__name__}: {exc})."
            ) from None

    def _parse(self, body: Any, wrapped: bool, limits: dict[str, float] | None) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise ValueError("no content blocks in the answer")
        parts: list[str] = []
        for block in body["content"]:
            kind = block.get("type")
            if kind == "text":
                parts.append(block["text"])
            elif kind == "tool_use":
                data = block["input"]
                if wrapped and isinstance(data, dict) and "value" in data:
                    data = data["value"]
                parts.append(orjson.dumps(data).decode())
        usage = body.get("usage") or {}
        prompt = sum(
            int(usage.get(k) or 0)
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        stop = body.get("stop_reason") or "end_turn"
        return Response(
            texts=["".join(parts)],
            finish_reasons=[_STOP_REASONS.get(stop, stop)],
            usage=Usage(prompt, int(usage.get("output_tokens") or 0)),
            model=str(body.get("model") or self.model),
            limits=limits,
        )
