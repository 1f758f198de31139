"""Recipe building blocks shared by every part: strict models, the teacher and run settings."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "CacheConfig",
    "Prices",
    "RunConfig",
    "Sampling",
    "Seed",
    "StrictModel",
    "TeacherConfig",
    "base_url_problem",
    "number_problem",
]

#: every integer in a recipe fits in a signed 64-bit integer (what JSON encoders, SQLite and the
#: teacher APIs take); a float is finite
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: how many nested values of a free-form mapping (``options``, ``extra_body``) are looked at
_MAX_WALK = 200_000

#: a seed: a 64-bit integer, written as a number (not true, not "7")
Seed = Annotated[int, Field(strict=True, ge=INT_MIN, le=INT_MAX)]


def number_problem(value: Any) -> str | None:
    """Why ``value`` (a number, or a structure of lists and mappings) cannot be stored, or None.

    Integers outside 64 bits and NaN or infinite floats are refused. The walk is bounded, and a
    structure deeper than that bound is refused too.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > _MAX_WALK or depth > 100:
            return "the value is too large or too deeply nested to store"
        if isinstance(item, bool) or item is None or isinstance(item, str | BaseModel):
            continue
        if isinstance(item, int) and not INT_MIN <= item <= INT_MAX:
            return f"the number {str(item)[:20]}... does not fit in 64 bits; use a smaller one"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a finite number"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth + 1) for k in item if not isinstance(k, str))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((v, depth + 1) for v in item)
    return None


class StrictModel(BaseModel):
    """Base of every recipe model: unknown keys are errors, assignments are validated, and every
    number fits in 64 bits and is finite (so it can be stored, hashed and sent)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="after")
    def _storable_numbers(self) -> Any:
        for name in type(self).model_fields:
            problem = number_problem(getattr(self, name, None))
            if problem:
                raise ValueError(f"{name}: {problem}")
        return self


class Sampling(StrictModel):
    """Sampling options sent with every request (unset ones are left to the server)."""

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    stop: list[str] | None = None
    seed: Seed | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    n: int = Field(default=1, ge=1, le=128)

    def as_options(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Prices(StrictModel):
    """Price in USD per million tokens."""

    input_per_mtok: float = Field(ge=0.0)
    output_per_mtok: float = Field(ge=0.0)


class TeacherConfig(StrictModel):
    """Which model answers, and how hard to push it.

    ``backend`` names a registered backend (``llamacpp``, ``openai``, ``anthropic`` or a plugin).
    Secrets never go here: ``api_key_env`` is the *name* of the environment variable that holds
    the key.
    """

    backend: str = "llamacpp"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    sampling: Sampling = Field(default_factory=Sampling)
    options: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: int = Field(default=16, ge=1, le=4096)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=120.0, gt=0.0, le=86_400.0)
    max_retries: int = Field(default=6, ge=0, le=100)
    prices: Prices | None = None
    #: how many rounds of synthetic data the teacher itself was trained on (0 = none known)
    generation_depth: int = Field(default=0, ge=0, le=1000)

    @field_validator("base_url")
    @classmethod
    def _no_secrets_in_url(cls, value: str | None) -> str | None:
        if value is not None:
            problem = base_url_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.replace("_", "").isalnum()):
            raise ValueError(
                "api_key_env is the NAME of an environment variable (like OPENAI_API_KEY), "
                "not the key itself"
            )
        return value


#: query parameter names that carry credentials (``?key=``, ``?access_token=``, ``?sig=``)
_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|credential|session", re.I)


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a ``teacher.base_url``, or None.

    It must be an ``http(s)`` URL with a host, and hold no credentials: no ``user:password@``
    and no query parameter named like a key or token (a non-secret query such as
    ``?api-version=...`` is kept and sent). Secrets belong in the environment variable named by
    ``api_key_env``, which never lands in a file.
    """
    fix = "put the key in an environment variable and name that variable with api_key_env"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "base_url holds whitespace or control characters; write the URL alone"
    try:
        parts = urlsplit(url)
        _ = parts.port  # an out-of-range or non-numeric port raises here
    except ValueError as exc:
        return f"base_url {url[:80]!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"base_url {url[:80]!r} must be an http:// or https:// URL with a host, "
            "e.g. http://localhost:8000/v1"
        )
    if parts.username is not None or parts.password is not None:
        return f"base_url must not hold a user name or password (user:password@host); {fix}"
    secret = [name for name, _ in parse_qsl(parts.query) if _SECRET_PARAM.search(name)]
    if secret:
        return f"base_url must not hold credentials in its query ({secret[0]}=...); {fix}"
    if parts.fragment:
        return "base_url must not have a #fragment; remove it"
    return None


class CacheConfig(StrictModel):
    """The request cache: answers already paid for are never requested again."""

    enabled: bool = True
    #: SQLite file; default ``<run dir>/cache.sqlite``
    path: str | None = None


class RunConfig(StrictModel):
    """Engine limits for one run."""

    #: stop with status "incomplete" after this many root requests (default: 5 x count + 50)
    max_requests: int | None = Field(default=None, ge=1, le=10**12)
    #: stop cleanly once the estimated spend reaches this many US dollars
    budget_usd: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    #: fsync shards and journal on every commit (slower; guards against power loss, not only kills)
    fsync: bool = False
