"""Who a model is, for the closed-loop guard: normalised ids, GGUF names and a fingerprint.

Two descriptions of a model are the same model (:func:`same_model`) when

* their **normalised ids** meet: :func:`normalise_model_id` lowercases, drops the organisation
  or folder (``org/``), the file extension, and trailing quantisation, format, chat-variant and
  snapshot suffixes (``-GGUF``, ``.Q4_K_M``, ``-Instruct``, ``-chat``, ``-it``, ``-2024-07-18``),
  so ``HuggingFaceTB/SmolLM2-135M-Instruct``, ``SmolLM2-135M-Instruct.Q4_1.gguf``,
  ``bartowski/SmolLM2-135M-Instruct-GGUF`` and ``smollm2:135m-instruct-q4_K_M`` are all
  ``smollm2-135m``; sizes and versions stay (``smollm2-1-7b`` is another model). A GGUF file
  adds ``general.basename`` with ``general.size_label`` (the basename alone names a family);
* one declares the other (or both declare one model) as its **base model**
  (``general.base_model.N.name`` / ``.repo_url`` of a GGUF file);
* their **fingerprints** are equal: a hash of the tokenizer (model, pre-tokenizer, vocabulary,
  merges), the chat template and the architecture's shape (layers, widths, heads, vocabulary
  size), read from the GGUF header. The quantisation is not part of it, and a fine-tune keeps
  all of it, so a student fine-tuned and converted again is still recognised.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from teachkit.quality.gguf import GGUFArray, read_gguf_metadata

__all__ = ["ModelIdentity", "identify", "normalise_model_id", "same_model"]

_EXTENSIONS = re.compile(r"\.(gguf|ggml|bin|safetensors|pt|pth)$")
_SUFFIX = re.compile(
    r"[-_.:\s](?:i?q\d(?:_[a-z0-9]+)*|f16|f32|bf16|fp16|fp8|int[48]|[48]-?bit|awq|gptq|exl2|mlx"
    r"|gguf|ggml|hf|instruct|chat|it|base|latest|\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$"
)
_SEPARATORS = re.compile(r"[-_.:\s]+")
#: the architecture keys (after ``<arch>.``) that make the fingerprint's shape
_SHAPE = (
    "block_count",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "vocab_size",
)


def normalise_model_id(name: str) -> str:
    """The comparable form of a model id or file name (see the module docstring)."""
    text = name.strip().replace("\\", "/").rstrip("/")
    text = text.rsplit("/", 1)[-1].lower()
    text = _EXTENSIONS.sub("", text)
    while True:
        shorter = _SUFFIX.sub("", text)
        if shorter == text or not shorter:
            break
        text = shorter
    return _SEPARATORS.sub("-", text).strip("-")


@dataclass(frozen=True)
class ModelIdentity:
    """What the guard knows of one model."""

    #: as the recipe names it (model id or file path)
    label: str
    #: normalised ids (of the id or file name; of the GGUF basename and size label)
    ids: tuple[str, ...]
    #: normalised ids of the base models a GGUF file declares
    base_models: tuple[str, ...] = ()
    #: hash of tokenizer, chat template and shape (GGUF files only)
    fingerprint: str | None = None
    file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ids"], out["base_models"] = list(self.ids), list(self.base_models)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        return cls(
            label=str(data.get("label", "")),
            ids=tuple(data.get("ids") or ()),
            base_models=tuple(data.get("base_models") or ()),
            fingerprint=data.get("fingerprint"),
            file=data.get("file"),
            extra=dict(data.get("extra") or {}),
        )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _fingerprint(meta: dict[str, Any]) -> str | None:
    tokens = meta.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, GGUFArray):
        return None
    arch = _text(meta.get("general.architecture")) or ""
    merges = meta.get("tokenizer.ggml.merges")
    template = meta.get("tokenizer.chat_template")
    parts = {
        "architecture": arch,
        "tokenizer": meta.get("tokenizer.ggml.model"),
        "pre": meta.get("tokenizer.ggml.pre"),
        "tokens": tokens.sha256,
        "merges": merges.sha256 if isinstance(merges, GGUFArray) else None,
        "chat_template": hashlib.sha256(template.encode()).hexdigest()
        if isinstance(template, str)
        else None,
        "shape": {key: meta.get(f"{arch}.{key}") for key in _SHAPE},
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return "g1:" + hashlib.sha256(blob).hexdigest()[:32]


def _base_models(meta: dict[str, Any]) -> list[str]:
    count = meta.get("general.base_model.count")
    found: list[str] = []
    for i in range(int(count) if isinstance(count, int) else 0):
        for key in ("name", "repo_url"):
            value = _text(meta.get(f"general.base_model.{i}.{key}"))
            if value:
                found.append(normalise_model_id(value))
    return found


@functools.lru_cache(maxsize=32)
def _gguf_header(path: str, size: int, mtime: float) -> dict[str, Any]:
    return read_gguf_metadata(path)


def _gguf_identity(label: str, path: Path) -> ModelIdentity:
    stat = path.stat()
    meta = _gguf_header(str(path.resolve()), stat.st_size, stat.st_mtime)
    ids = [normalise_model_id(path.name)]
    basename = _text(meta.get("general.basename"))
    if basename:
        size = _text(meta.get("general.size_label"))
        ids.append(normalise_model_id(f"{basename}-{size}" if size else basename))
    name = _text(meta.get("general.name"))
    return ModelIdentity(
        label=label,
        ids=tuple(dict.fromkeys(i for i in ids if i)),
        base_models=tuple(dict.fromkeys(_base_models(meta))),
        fingerprint=_fingerprint(meta),
        file=str(path.resolve()),
        extra={"gguf_name": name} if name else {},
    )


def identify(model: str, *, base_dir: str | Path | None = None) -> ModelIdentity:
    """The identity of ``model``: a GGUF file (relative paths are tried against ``base_dir``,
    then the working directory) or a model id."""
    candidates = [Path(model).expanduser()]
    if base_dir is not None and not candidates[0].is_absolute():
        candidates.insert(0, Path(base_dir) / model)
    for path in candidates:
        if path.is_file():
            if path.suffix.lower() == ".gguf":
                return _gguf_identity(model, path)
            return ModelIdentity(model, (normalise_model_id(path.name),), file=str(path.resolve()))
    return ModelIdentity(model, (normalise_model_id(model),))


def same_model(a: ModelIdentity, b: ModelIdentity) -> str | None:
    """Why ``a`` and ``b`` are the same model (a phrase), or None when nothing says so."""
    shared = [i for i in a.ids if i in b.ids]
    if shared:
        return f"the same model id after normalisation ({shared[0]})"
    for x, y in ((a, b), (b, a)):
        base = [i for i in x.base_models if i in y.ids]
        if base:
            return f"{x.label} declares {base[0]} as its base model (general.base_model)"
    both = [i for i in a.base_models if i in b.base_models]
    if both:
        return f"both are fine-tunes of {both[0]} (general.base_model)"
    if a.fingerprint is not None and a.fingerprint == b.fingerprint:
        return (
            "the same tokenizer, chat template and architecture in their GGUF headers "
            f"(fingerprint {a.fingerprint})"
        )
    return None
