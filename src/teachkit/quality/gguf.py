"""Read the metadata of a GGUF model file without loading its weights.

A GGUF file starts with a small header: the magic ``GGUF``, a version (2 or 3), the tensor
count, the number of key/value pairs, then the pairs themselves (a key string, a value type, a
value), all little-endian. The weights come after, and are never read here. Strings are a
64-bit length and UTF-8 bytes; arrays an item type, a 64-bit count and the items.

:func:`read_gguf_metadata` returns every scalar as a Python value and every array as a
:class:`GGUFArray` (its item type, count and a SHA-256 of its items, plus the items themselves
when there are at most ``keep_items``), so the tokenizer's 50,000-entry vocabulary costs a hash,
not a list. Reading SmolLM2-135M's header (100,000 strings) takes about half a second.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from teachkit.errors import DataError

__all__ = ["GGUFArray", "read_gguf_metadata"]

_MAGIC = b"GGUF"
#: value type -> struct format of a scalar (8: string, 9: array are read separately)
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
#: the longest key or string value read (a header needs far less; longer means a damaged file)
_MAX_STRING = 64 << 20
_MAX_PAIRS = 1 << 20


@dataclass(frozen=True)
class GGUFArray:
    """An array value of the header: item type, count, SHA-256 of the items (and the items,
    when few)."""

    item_type: int
    count: int
    sha256: str
    items: list[Any] | None = field(default=None, compare=False)


class _Reader:
    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self.handle = handle
        self.path = path

    def fail(self, what: str) -> DataError:
        return DataError(
            f"{self.path} is not a readable GGUF model file ({what}). Give the path of a .gguf "
            "file, or the model's id instead.",
            path=str(self.path),
        )

    def take(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise self.fail("the header ends early")
        return data

    def scalar(self, kind: int) -> Any:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        (size,) = struct.unpack("<Q", self.take(8))
        if size > _MAX_STRING:
            raise self.fail(f"a string of {size} bytes")
        return self.take(size).decode("utf-8", errors="replace")

    def value(self, kind: int, keep_items: int) -> Any:
        if kind in _SCALARS:
            return self.scalar(kind)
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            return self.array(keep_items)
        raise self.fail(f"unknown value type {kind}")

    def array(self, keep_items: int) -> GGUFArray:
        item_type, count = struct.unpack("<IQ", self.take(12))
        digest = hashlib.sha256(struct.pack("<IQ", item_type, count))
        items: list[Any] | None = [] if count <= keep_items else None
        for _ in range(count):
            if item_type == _ARRAY:
                raise self.fail("an array of arrays")
            item = self.value(item_type, keep_items)
            encoded = item.encode("utf-8") if isinstance(item, str) else repr(item).encode()
            digest.update(struct.pack("<Q", len(encoded)) + encoded)
            if items is not None:
                items.append(item)
        return GGUFArray(item_type, count, digest.hexdigest(), items)


def read_gguf_metadata(path: str | Path, *, keep_items: int = 16) -> dict[str, Any]:
    """Every key of the GGUF header of ``path`` (arrays as :class:`GGUFArray`).

    Raises :class:`DataError` when the file is missing or not GGUF.
    """
    path = Path(path)
    try:
        handle = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise DataError(
            f"Cannot read the model file {path}: {exc.strerror or exc}.", path=str(path)
        ) from exc
    with handle:
        reader = _Reader(handle, path)
        if handle.read(4) != _MAGIC:
            raise reader.fail("it does not start with GGUF")
        (version,) = struct.unpack("<I", reader.take(4))
        if version not in (2, 3):
            raise reader.fail(f"GGUF version {version}; versions 2 and 3 are read")
        _tensors, pairs = struct.unpack("<QQ", reader.take(16))
        if pairs > _MAX_PAIRS:
            raise reader.fail(f"{pairs} metadata keys")
        metadata: dict[str, Any] = {}
        for _ in range(pairs):
            key = reader.string()
            (kind,) = struct.unpack("<I", reader.take(4))
            metadata[key] = reader.value(kind, keep_items)
    return metadata
