"""A run's identity: the recipe's hash plus the contents of every file the recipe reads.

A run directory holds records of one identity. Editing an axis file, a seed file or an
``against`` file between two sessions would mix two datasets under one recipe hash, so the
identity hashes the *contents* of those files, and a resumed run whose identity differs is
refused (the run directory keeps the identity in the first line of its journal).

Which files a recipe reads is found in two ways:

* a walk over every spec model of the recipe (generator, filters, and the models nested in
  them): an axis written as a file, and any string in a field named like a data file
  (:data:`FILE_FIELDS`) that names an existing file (relative to the recipe's folder) or a file
  shipped with teachkit (``teachkit:NAME``);
* :meth:`teachkit.recipe.kinds.KindSpec.input_files`, which a spec overrides to declare files
  the walk cannot see (a path built from other fields, a folder of files).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from teachkit.recipe.kinds import KindSpec
from teachkit.recipe.load import recipe_hash
from teachkit.recipe.models import Recipe
from teachkit.records import content_hash

__all__ = ["FILE_FIELDS", "RunIdentity", "file_digest", "input_files", "run_identity"]

#: field names whose string values (or lists of strings) are data files a spec reads
FILE_FIELDS = frozenset(
    {"file", "files", "path", "paths", "seeds", "against", "data", "reference", "references"}
)
_PACKAGE_PREFIX = "teachkit:"
_CHUNK = 1 << 20


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str):
                yield item


def _walk(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if name in FILE_FIELDS:
            yield from _strings(value)
        yield from _nested(value)
    if isinstance(model, KindSpec):
        yield from model.input_files()


def _nested(value: Any) -> Iterator[str]:
    if isinstance(value, BaseModel):
        yield from _walk(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _nested(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nested(item)


def _resolve(location: str, base_dir: str | Path) -> Path | None:
    """The file ``location`` names, or None when it names no file (then it is no input)."""
    if location.startswith(_PACKAGE_PREFIX):
        return None
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    try:
        return path if path.is_file() else None
    except OSError:
        return None


def input_files(recipe: Recipe) -> list[str]:
    """Every data file the recipe's specs read, as written in the recipe (sorted, unique)."""
    found: set[str] = set()
    specs: list[BaseModel] = list(recipe.filters)
    if recipe.generator is not None:
        specs.insert(0, recipe.generator)
    for spec in specs:
        for location in _walk(spec):
            if location.startswith(_PACKAGE_PREFIX) or _resolve(location, recipe.base_dir):
                found.add(location)
    return sorted(found)


def file_digest(location: str, base_dir: str | Path = ".") -> str:
    """``sha256:<hex>`` of a file's bytes (``teachkit:NAME``: a file shipped with teachkit);
    ``missing`` when it cannot be read."""
    digest = hashlib.sha256()
    try:
        if location.startswith(_PACKAGE_PREFIX):
            name = location[len(_PACKAGE_PREFIX) :]
            digest.update(importlib.resources.files("teachkit").joinpath("data", name).read_bytes())
        else:
            path = _resolve(location, base_dir)
            if path is None:
                return "missing"
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
    except OSError:
        return "missing"
    return f"sha256:{digest.hexdigest()}"


@dataclass(frozen=True)
class RunIdentity:
    """What makes two sessions one run: the same recipe, inputs and (for ``teachkit filter``)
    the same source rows."""

    recipe_hash: str
    #: ``generate`` (``teachkit run``) or ``filter`` (``teachkit filter``)
    mode: str = "generate"
    #: input file as written in the recipe -> digest of its contents
    inputs: dict[str, str] = field(default_factory=dict)
    #: ``teachkit filter``: the digest of the rows file
    source: str | None = None

    @property
    def hash(self) -> str:
        return content_hash(self.to_dict(), prefix="i1:", length=16)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"recipe_hash": self.recipe_hash, "mode": self.mode}
        out["inputs"] = dict(self.inputs)
        if self.source is not None:
            out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunIdentity:
        inputs = data.get("inputs") or {}
        source = data.get("source")
        return cls(
            recipe_hash=str(data["recipe_hash"]),
            mode=str(data.get("mode") or "generate"),
            inputs={str(k): str(v) for k, v in inputs.items()} if isinstance(inputs, dict) else {},
            source=str(source) if source is not None else None,
        )

    def differences(self, other: RunIdentity) -> list[str]:
        """What changed from ``self`` (the run directory's) to ``other`` (this session's), as
        sentence fragments; empty when they are one identity."""
        changes: list[str] = []
        if self.mode != other.mode:
            made = {"generate": "`teachkit run`", "filter": "`teachkit filter`"}
            changes.append(f"it was made by {made.get(self.mode, self.mode)}")
        if self.recipe_hash != other.recipe_hash:
            changes.append(
                f"it holds a run of a different recipe (hash {self.recipe_hash}, this one is "
                f"{other.recipe_hash})"
            )
        if self.source != other.source:
            changes.append("it was filtered from a different input file (other contents)")
        for name in sorted(set(self.inputs) | set(other.inputs)):
            before, after = self.inputs.get(name), other.inputs.get(name)
            if before == after or self.recipe_hash != other.recipe_hash:
                continue
            if before is None or after is None:
                continue  # a different set of files means a different recipe, reported above
            changes.append(f"the input file {name} changed since the run started")
        return changes


def run_identity(
    recipe: Recipe, *, mode: str = "generate", source: str | Path | None = None
) -> RunIdentity:
    """The identity of ``recipe`` with its input files as they are on disk now."""
    inputs = {name: file_digest(name, recipe.base_dir) for name in input_files(recipe)}
    digest = file_digest(str(Path(source).resolve())) if source is not None else None
    return RunIdentity(recipe_hash(recipe), mode=mode, inputs=inputs, source=digest)
