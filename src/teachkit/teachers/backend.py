"""The backend contract: what a teacher plugin implements.

A backend is tiny: an ``id``, capability flags, a pydantic ``Options`` model
(``extra="forbid"``) for backend-specific settings, and one async :meth:`Backend.generate`.
``Backend`` is generic over its options: ``class MyBackend(Backend[MyOptions])`` makes
``self.options`` a ``MyOptions`` (and ``MyOptions`` the model ``teacher.options`` is validated
against), so no backend re-checks the type. Everything shared (cache, concurrency and rate
control, retries, cost, masking secrets in errors) lives in :class:`teachkit.teachers.Teacher`,
which wraps a backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from teachkit.records import Message, content_hash

if TYPE_CHECKING:
    from teachkit.recipe.base import TeacherConfig

__all__ = [
    "Backend",
    "BackendOptions",
    "Capabilities",
    "ChatTemplate",
    "Request",
    "Response",
    "Usage",
    "request_key",
]

#: bump when the canonical request layout changes: old cache entries then stop matching
CACHE_KEY_VERSION = "c1"


@dataclass(frozen=True, slots=True)
class Capabilities:
    chat: bool = True
    completion: bool = False  # raw prompt without a chat template
    json_schema: bool = False  # native structured output (response_format / grammar)
    n: bool = False  # several choices per request
    logprobs: bool = False
    batch: bool = False  # a provider batch API (half price, answers within hours)
    local: bool = False  # runs on this machine or the user's own hardware: its tokens are free


@dataclass(slots=True)
class Request:
    """One call to the teacher: either chat ``messages`` or a raw ``prompt``.

    ``options`` are sampling options (temperature, top_p, max_tokens, stop, seed,
    presence_penalty, frequency_penalty, n). ``json_schema`` asks for structured output.
    ``sample`` distinguishes repeated draws of the same prompt, so they cache separately.
    """

    messages: list[Message] | None = None
    prompt: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    json_schema: dict[str, Any] | None = None
    sample: int = 0

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request needs exactly one of messages or prompt")

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "prompt": self.prompt,
            "options": self.options,
            "json_schema": self.json_schema,
            "sample": self.sample,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return cls(
            messages=data.get("messages"),
            prompt=data.get("prompt"),
            options=dict(data.get("options") or {}),
            json_schema=data.get("json_schema"),
            sample=int(data.get("sample") or 0),
        )


@dataclass(frozen=True, slots=True)
class ChatTemplate:
    """The chat template a model applies to chat requests: the Jinja2 source, as found in a
    tokenizer config or a GGUF file's ``tokenizer.chat_template``, and the special tokens it reads
    (``bos_token``, ``eos_token``)."""

    source: str
    bos_token: str = ""
    eos_token: str = ""


def request_key(backend: str, model: str, request: Request) -> str:
    """Versioned hash of the canonical request: the cache key."""
    canonical = {"backend": backend, "model": model, **request.to_dict()}
    return content_hash(canonical, prefix=f"{CACHE_KEY_VERSION}:", length=32)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


@dataclass(slots=True)
class Response:
    """The teacher's answer. ``texts`` has one entry per choice (``n``)."""

    texts: list[str]
    finish_reasons: list[str]
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    cached: bool = False
    #: seconds spent waiting for the backend (0 when cached)
    latency: float = 0.0
    #: rate-limit facts read from the server's headers (e.g. remaining_requests, reset_tokens)
    limits: dict[str, float] | None = None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def finish_reason(self) -> str:
        return self.finish_reasons[0] if self.finish_reasons else "stop"

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "finish_reasons": self.finish_reasons,
            "usage": [self.usage.prompt_tokens, self.usage.completion_tokens],
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, cached: bool = False) -> Response:
        prompt_tokens, completion_tokens = data.get("usage") or (0, 0)
        return cls(
            texts=list(data["texts"]),
            finish_reasons=list(data["finish_reasons"]),
            usage=Usage(int(prompt_tokens), int(completion_tokens)),
            model=str(data.get("model") or ""),
            cached=cached,
        )


class BackendOptions(BaseModel):
    """Backend-specific settings from the recipe's ``teacher.options`` mapping (none here)."""

    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel, default=BackendOptions)


class Backend(ABC, Generic[OptionsT]):
    """Base class of teacher backends; register one under the ``teachkit.teachers`` entry point.

    Subclass ``Backend[MyOptions]``: ``Options`` is then ``MyOptions`` (unless the class sets it
    itself) and ``self.options`` is typed as one.
    """

    id: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: the model ``teacher.options`` is validated against
    Options: ClassVar[type[BaseModel]] = BackendOptions

    #: model used when the recipe names none
    default_model: ClassVar[str] = ""
    #: most requests worth having in flight at once (None: no limit beyond max_concurrency)
    max_parallel: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Backend):
                args = get_args(base)
                if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                    cls.Options = args[0]
                    return

    def __init__(self, config: TeacherConfig, options: OptionsT) -> None:
        self.config = config
        self.model = config.model or self.default_model
        self.options: OptionsT = options

    #: a short, secret-free description of where requests go (logged and put in the manifest)
    def describe(self) -> dict[str, Any]:
        return {"backend": self.id, "model": self.model}

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an error, a log or a file (an API key). The Teacher
        masks them in every error this backend raises and in every answer it returns."""
        return ()

    def chat_template(self) -> ChatTemplate | None:
        """The chat template this backend applies to chat requests, when it knows it from the
        model itself (e.g. a GGUF file's metadata); None when it does not. Recipes that write raw
        prompts in the model's own format (Magpie) derive them from it. Reads files only: no
        model is loaded and nothing is fetched."""
        return None

    async def start(self) -> None:
        """Acquire resources (load a model, open a connection pool). Called once before use."""

    @abstractmethod
    async def generate(self, request: Request) -> Response:
        """Produce the answer. Raise :class:`~teachkit.errors.RetryableError` for transient
        failures and :class:`~teachkit.errors.RequestRejectedError` for permanent ones."""

    async def aclose(self) -> None:
        """Release resources."""
