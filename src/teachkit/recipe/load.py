"""Loading recipes from YAML, applying ``--set`` overrides, and explaining what is wrong.

Every problem becomes a :class:`RecipeError` that names the field path, the bad value and what is
expected, before any work starts.
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from teachkit.errors import RecipeError
from teachkit.recipe.models import Recipe
from teachkit.recipe.paths import validation_context
from teachkit.records import content_hash

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_RECIPE_BYTES",
    "YAMLLimitError",
    "apply_overrides",
    "dump_recipe",
    "load_recipe",
    "load_yaml",
    "parse_recipe",
    "read_recipe_data",
    "recipe_hash",
]

_MAX_SHOWN = 80
#: values that aliases (``*name``) may add to a document beyond its own nodes
MAX_ALIAS_NODES = 100_000
#: how deeply lists and mappings may nest in a recipe
MAX_DEPTH = 100
#: the largest recipe file read
MAX_RECIPE_BYTES = 16 * 2**20

#: shows a bad value in an error message without walking more than a few levels of it
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 3, 4, 4, 4
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


def _short(value: Any) -> str:
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails: name its type
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class YAMLLimitError(yaml.YAMLError):
    """A YAML document that expands past :data:`MAX_ALIAS_NODES` or nests past
    :data:`MAX_DEPTH`, or refers to itself."""


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it past the bound (a "billion laughs"), that
    nests too deeply, or that contains itself. Linear in the number of distinct nodes."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_DEPTH:
                raise YAMLLimitError(
                    f"nests lists and mappings more than {MAX_DEPTH} levels deep; flatten it"
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise YAMLLimitError("contains an alias to itself (a recursive anchor); remove it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    distinct = len(size)
    if size[id(root)] - distinct > MAX_ALIAS_NODES:
        raise YAMLLimitError(
            f"uses aliases (*name) that expand it to {size[id(root)]:,} values, past the limit "
            f"of {MAX_ALIAS_NODES:,} repeated values; write the repeated parts out or shorten "
            "them"
        )


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents that expand, nest or refer to themselves
    past the bounds, before any Python object is built."""

    def compose_document(self) -> yaml.Node | None:  # type: ignore[override]
        node: yaml.Node | None = super().compose_document()  # type: ignore[no-untyped-call]
        if node is not None:
            _check_expansion(node)
        return node


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with the bounds of :class:`YAMLLimitError` (raised as a
    ``yaml.YAMLError``). Nesting too deep for the parser is reported the same way."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass
    except RecursionError:
        raise YAMLLimitError(
            f"nests lists and mappings more than {MAX_DEPTH} levels deep; flatten it"
        ) from None


def _path(loc: Iterable[int | str], data: Any) -> str:
    """Turn a pydantic location into a dotted path, skipping union tags (``templated``)."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, Mapping) and item not in node and item == node.get("kind"):
            continue  # the discriminator tag pydantic inserts for a union member
        if isinstance(node, Mapping) and item not in node and "-" in item:
            continue  # e.g. "function-after[...]" wrappers
        parts.append(item)
        node = node.get(item) if isinstance(node, Mapping) else None
    return ".".join(parts) or "(recipe)"


def _explain(exc: ValidationError, data: Any, source: str) -> RecipeError:
    lines = []
    for err in exc.errors()[:10]:
        where = _path(err["loc"], data)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = (
                "unknown key (check the spelling; see `teachkit init` for a commented example)"
            )
        elif err["type"] == "missing":
            message = "required but missing"
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            message = f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        shown = (
            ""
            if err["type"] in ("missing", "union_tag_invalid", "unknown_kind")
            else (f" (got {_short(err.get('input'))})")
        )
        lines.append(f"  {where}: {message}{shown}")
    more = len(exc.errors()) - 10
    if more > 0:
        lines.append(f"  ... and {more} more")
    return RecipeError(f"The recipe {source} is invalid:\n" + "\n".join(lines))


def parse_recipe(
    data: Any,
    source: str = "(in memory)",
    *,
    base_dir: str | os.PathLike[str] = ".",
    allow_paths: Iterable[str | os.PathLike[str]] = (),
) -> Recipe:
    """Validate recipe data. Data files it names must lie in ``base_dir`` (the recipe's folder,
    default the working directory) or in one of ``allow_paths``; see :mod:`teachkit.recipe.paths`.
    """
    if not isinstance(data, Mapping):
        raise RecipeError(
            f"The recipe {source} must be a mapping of keys (name, teacher, generator, ...), "
            f"not {type(data).__name__}."
        )
    allowed = tuple(os.fspath(p) for p in allow_paths)
    base = os.fspath(Path(base_dir).resolve())
    try:
        recipe = Recipe.model_validate(dict(data), context=validation_context(base, allowed))
    except ValidationError as exc:
        raise _explain(exc, data, source) from None
    except RecursionError:
        raise RecipeError(f"The recipe {source} nests values too deeply; flatten it.") from None
    recipe.set_base_dir(base, allowed)
    return recipe


def _parse_value(text: str) -> Any:
    try:
        return load_yaml(text)
    except YAMLLimitError as exc:
        raise RecipeError(f"--set value {text[:60]!r} {exc}.") from None
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``dotted.path=value`` overrides (values parsed as YAML) to recipe data."""
    for override in overrides:
        if "=" not in override:
            raise RecipeError(
                f"--set {override!r}: expected PATH=VALUE, e.g. --set generator.count=500."
            )
        path, _, raw = override.partition("=")
        keys = [k for k in path.strip().split(".") if k]
        if not keys:
            raise RecipeError(f"--set {override!r}: the path before '=' is empty.")
        node: Any = data
        for depth, key in enumerate(keys[:-1]):
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    where = ".".join(keys[: depth + 1])
                    raise RecipeError(f"--set {override!r}: {where} is not an index of the list.")
                node = node[int(key)]
                continue
            if not isinstance(node, dict):
                where = ".".join(keys[:depth])
                raise RecipeError(f"--set {override!r}: {where} is not a mapping.")
            node = node.setdefault(key, {})
        last = keys[-1]
        value = _parse_value(raw)
        if isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise RecipeError(f"--set {override!r}: cannot set {path} here.")
    return data


def read_recipe_data(path: str | Path) -> dict[str, Any]:
    """The recipe file's data (a mapping), or a RecipeError naming the file and the problem."""
    file = Path(path)
    if file.is_dir():
        raise RecipeError(f"{file} is a folder, not a recipe file; give the path of a .yaml file.")
    if not file.is_file():
        raise RecipeError(
            f"The recipe file {file} does not exist. Create one with `teachkit init`."
        )
    if file.stat().st_size > MAX_RECIPE_BYTES:
        raise RecipeError(
            f"The recipe {file} is larger than {MAX_RECIPE_BYTES // 2**20} MiB; a recipe "
            "names its data files rather than holding them (use an axis 'file:')."
        )
    try:
        data = load_yaml(file.read_text(encoding="utf-8"))
    except YAMLLimitError as exc:
        raise RecipeError(f"The recipe {file} {exc}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"The recipe {file} is not valid YAML{where}: {problem}.") from None
    except UnicodeDecodeError:
        raise RecipeError(f"The recipe {file} is not UTF-8 text.") from None
    if data is None:
        raise RecipeError(f"The recipe {file} is empty.")
    if not isinstance(data, dict):
        raise RecipeError(
            f"The recipe {file} must be a mapping of keys, not a {type(data).__name__}."
        )
    return data


def load_recipe(
    path: str | Path,
    overrides: Iterable[str] = (),
    *,
    allow_paths: Iterable[str | os.PathLike[str]] = (),
) -> Recipe:
    """Load and validate a YAML recipe, applying ``--set`` style overrides first.

    Data files the recipe names must lie in the recipe file's folder or in one of
    ``allow_paths`` (``teachkit run --allow-path DIR``).
    """
    data = apply_overrides(read_recipe_data(path), overrides)
    return parse_recipe(
        data, str(path), base_dir=Path(path).resolve().parent, allow_paths=allow_paths
    )


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe as YAML: every default filled in. Holds no secrets by construction."""
    data = recipe.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def recipe_hash(recipe: Recipe) -> str:
    """Hash of what determines the records (not the count, run limits, cache, export, quality
    panel or lineage declarations)."""
    data = recipe.model_dump(
        mode="json",
        exclude={
            "run",
            "cache",
            "output",
            "export",
            "quality",
            "student",
            "trained_on",
            "allow_closed_loop",
        },
    )
    if data.get("generator"):
        data["generator"].pop("count", None)
    return content_hash(data, prefix="h1:", length=16)
