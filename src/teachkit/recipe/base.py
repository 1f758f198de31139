"""Recipe building blocks shared by every part: strict models, the teacher and run settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CacheConfig",
    "Prices",
    "RunConfig",
    "Sampling",
    "StrictModel",
    "TeacherConfig",
]


class StrictModel(BaseModel):
    """Base of every recipe model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Sampling(StrictModel):
    """Sampling options sent with every request (unset ones are left to the server)."""

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] | None = None
    seed: int | None = None
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
    timeout: float = Field(default=120.0, gt=0.0)
    max_retries: int = Field(default=6, ge=0, le=100)
    prices: Prices | None = None
    #: how many rounds of synthetic data the teacher itself was trained on (0 = none known)
    generation_depth: int = Field(default=0, ge=0)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or not value.replace("_", "").isalnum()):
            raise ValueError(
                "api_key_env is the NAME of an environment variable (like OPENAI_API_KEY), "
                "not the key itself"
            )
        return value


class CacheConfig(StrictModel):
    """The request cache: answers already paid for are never requested again."""

    enabled: bool = True
    #: SQLite file; default ``<run dir>/cache.sqlite``
    path: str | None = None


class RunConfig(StrictModel):
    """Engine limits for one run."""

    #: stop with status "incomplete" after this many root requests (default: 5 x count + 50)
    max_requests: int | None = Field(default=None, ge=1)
    #: stop cleanly once the estimated spend reaches this many US dollars
    budget_usd: float | None = Field(default=None, gt=0.0)
    #: fsync shards and journal on every commit (slower; guards against power loss, not only kills)
    fsync: bool = False
