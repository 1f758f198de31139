"""Fixtures of the quality tests: small GGUF files written here, byte by byte."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GGUFWriter = Callable[..., Path]


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value: Any) -> tuple[int, bytes]:
    if isinstance(value, bool):
        return 7, struct.pack("<?", value)
    if isinstance(value, int):
        return 4, struct.pack("<I", value)
    if isinstance(value, float):
        return 6, struct.pack("<f", value)
    if isinstance(value, str):
        return 8, _string(value)
    if isinstance(value, list):
        kind = _value(value[0])[0] if value else 8
        items = b"".join(_value(v)[1] for v in value)
        return 9, struct.pack("<IQ", kind, len(value)) + items
    raise TypeError(type(value))


def write_gguf(path: Path, metadata: dict[str, Any], *, version: int = 3) -> Path:
    """A GGUF file with this header, no tensors and a few bytes standing for weights."""
    body = b"".join(
        _string(key) + struct.pack("<I", kind) + data
        for key, (kind, data) in ((k, _value(v)) for k, v in metadata.items())
    )
    header = b"GGUF" + struct.pack("<IQQ", version, 0, len(metadata))
    path.write_bytes(header + body + b"\x00" * 64)
    return path


def model_header(
    basename: str = "tinyteach",
    size: str = "7M",
    *,
    tokens: list[str] | None = None,
    template: str = "{% for m in messages %}{{ m.content }}{% endfor %}",
    **extra: Any,
) -> dict[str, Any]:
    """A plausible header of a small llama-architecture model."""
    return {
        "general.architecture": "llama",
        "general.basename": basename,
        "general.size_label": size,
        "llama.block_count": 4,
        "llama.embedding_length": 64,
        "llama.feed_forward_length": 128,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": tokens or ["<s>", "</s>", "a", "b", "ab"],
        "tokenizer.ggml.merges": ["a b"],
        "tokenizer.chat_template": template,
        **extra,
    }


@pytest.fixture
def gguf(tmp_path: Path) -> GGUFWriter:
    """``gguf("name.gguf", header)`` writes a GGUF file under tmp_path and returns its path."""

    def make(name: str, metadata: dict[str, Any], **kw: Any) -> Path:
        return write_gguf(tmp_path / name, metadata, **kw)

    return make


@pytest.fixture(name="model_header")
def _model_header() -> Callable[..., dict[str, Any]]:
    """The :func:`model_header` builder."""
    return model_header
