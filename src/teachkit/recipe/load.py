"""Loading recipes from YAML, applying ``--set`` overrides, and explaining what is wrong.

Every problem becomes a :class:`RecipeError` that names the field path, the bad value and what is
expected, before any work starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from teachkit.errors import RecipeError
from teachkit.recipe.models import Recipe
from teachkit.records import content_hash

__all__ = [
    "apply_overrides",
    "dump_recipe",
    "load_recipe",
    "parse_recipe",
    "recipe_hash",
]

_MAX_SHOWN = 80


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


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


def parse_recipe(data: Any, source: str = "(in memory)") -> Recipe:
    if not isinstance(data, Mapping):
        raise RecipeError(
            f"The recipe {source} must be a mapping of keys (name, teacher, generator, ...), "
            f"not {type(data).__name__}."
        )
    try:
        return Recipe.model_validate(dict(data))
    except ValidationError as exc:
        raise _explain(exc, data, source) from None


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
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
    file = Path(path)
    if not file.is_file():
        raise RecipeError(
            f"The recipe file {file} does not exist. Create one with `teachkit init`."
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
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


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Load and validate a YAML recipe, applying ``--set`` style overrides first."""
    data = apply_overrides(read_recipe_data(path), overrides)
    recipe = parse_recipe(data, str(path))
    base = str(Path(path).resolve().parent)
    recipe.set_base_dir(base)
    return recipe


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe as YAML: every default filled in. Holds no secrets by construction."""
    data = recipe.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def recipe_hash(recipe: Recipe) -> str:
    """Hash of what determines the records (not the count, run limits, cache or export)."""
    data = recipe.model_dump(mode="json", exclude={"run", "cache", "output", "export"})
    if data.get("generator"):
        data["generator"].pop("count", None)
    return content_hash(data, prefix="h1:", length=16)
