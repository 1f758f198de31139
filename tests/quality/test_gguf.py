"""The GGUF header reader: written files, the packaged model against llama.cpp, damage."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from teachkit.errors import DataError
from teachkit.quality.gguf import GGUFArray, read_gguf_metadata


def test_every_value_type_reads_back(gguf: Any) -> None:
    header = {
        "general.name": "Tiny",
        "n": 7,
        "flag": True,
        "ratio": 0.5,
        "tokens": ["x", "y", "zz"],
        "ids": [1, 2, 3],
    }
    meta = read_gguf_metadata(gguf("t.gguf", header), keep_items=2)
    assert meta["general.name"] == "Tiny"
    assert meta["n"] == 7 and meta["flag"] is True and meta["ratio"] == 0.5
    tokens = meta["tokens"]
    assert isinstance(tokens, GGUFArray) and tokens.count == 3 and tokens.items is None
    again = read_gguf_metadata(gguf("u.gguf", {**header, "n": 8}), keep_items=2)["tokens"]
    assert again.sha256 == tokens.sha256
    other = read_gguf_metadata(gguf("v.gguf", {**header, "tokens": ["x", "y", "z"]}))["tokens"]
    assert other.sha256 != tokens.sha256
    assert other.items == ["x", "y", "z"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GGML" + b"\x00" * 40,
        b"GGUF" + struct.pack("<I", 9) + b"\x00" * 16,
        b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + struct.pack("<Q", 3) + b"ab",
    ],
    ids=["empty", "magic", "version", "cut"],
)
def test_damaged_files_are_refused_with_a_sentence(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(DataError, match="not a readable GGUF model file") as info:
        read_gguf_metadata(path)
    assert info.value.context["path"] == str(path)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Cannot read the model file"):
        read_gguf_metadata(tmp_path / "none.gguf")


def test_the_packaged_model_agrees_with_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from teachkit.teachers.llamacpp import default_model_path

    path = default_model_path()
    ours = read_gguf_metadata(path)
    theirs = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False).metadata
    assert theirs, "llama.cpp read no metadata"
    for key, value in theirs.items():
        mine = ours[key]
        if isinstance(mine, float):
            assert float(value) == pytest.approx(mine, rel=1e-5), key
        elif isinstance(mine, bool):
            assert value == str(mine).lower(), key
        else:
            assert str(mine) == value, key
    assert ours["tokenizer.ggml.tokens"].count == int(theirs["llama.vocab_size"])
