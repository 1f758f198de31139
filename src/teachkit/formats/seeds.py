"""Seed tasks for Self-Instruct and Alpaca: loading and checking the seed files.

A seed file is JSON Lines, one task per line, in any of three layouts:

* Self-Instruct: ``{"id", "name", "instruction", "instances": [{"input", "output"}, ...],
  "is_classification"}`` (only ``instruction`` is required);
* plain: ``{"instruction", "input", "output"}`` (``input`` and ``output`` optional);
* chat: ``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}``.

``teachkit:seed_tasks.jsonl`` names the small seed file shipped with teachkit; other paths are
files on disk, resolved against the recipe's folder when relative.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from teachkit.errors import DataError
from teachkit.recipe.paths import resolve_input

__all__ = ["SHIPPED_SEEDS", "SeedTask", "load_seed_tasks", "read_seed_file", "resolve_seed_path"]

#: the seed file that ships inside the package
SHIPPED_SEEDS = "teachkit:seed_tasks.jsonl"
_PACKAGE_PREFIX = "teachkit:"


@dataclass(slots=True)
class SeedTask:
    """One task: an instruction and zero or more (input, output) instances."""

    id: str
    instruction: str
    instances: list[tuple[str, str]] = field(default_factory=list)
    is_classification: bool | None = None
    name: str = ""


def resolve_seed_path(
    location: str, base_dir: str | Path, allowed: Iterable[str | Path] = ()
) -> Path:
    """The file on disk that a ``seeds`` (or ``against``) value names: a relative path taken
    from ``base_dir`` (the recipe's folder), confined to it or to ``allowed``
    (:func:`teachkit.recipe.paths.resolve_input`). Every seed file on disk is found here."""
    return resolve_input(location, base_dir, allowed=allowed, what="seed file")


def _read_text(
    location: str, base_dir: str | Path, allowed: Iterable[str | Path] = ()
) -> tuple[str, str]:
    """The file's text and how to name it in messages."""
    if location.startswith(_PACKAGE_PREFIX):
        name = location[len(_PACKAGE_PREFIX) :]
        plain = bool(name) and not any(c in name for c in "/\\") and not name.startswith(".")
        resource = importlib.resources.files("teachkit").joinpath("data", name or "-")
        if not plain or not resource.is_file():
            raise DataError(
                f"teachkit ships no seed file named {name!r}. Use {SHIPPED_SEEDS!r} or the path of "
                "your own JSONL seed file.",
                path=location,
            )
        return resource.read_text(encoding="utf-8"), location
    path = resolve_seed_path(location, base_dir, allowed)
    if not path.is_file():
        raise DataError(
            f"The seed file {path} does not exist. Check the 'seeds' path (relative paths are "
            "resolved against the recipe's folder).",
            path=str(path),
        )
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"The seed file {path} cannot be read as UTF-8 text: {exc}.", path=str(path)
        ) from exc


def _text(value: Any, where: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: '{key}' must be a string, got {type(value).__name__}.")
    return value


def _from_messages(data: dict[str, Any], where: str) -> tuple[str, list[tuple[str, str]]]:
    messages = data["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise DataError(f"{where}: 'messages' must be a list of {{role, content}} objects.")
    user = [_text(m.get("content"), where, "content") for m in messages if m.get("role") == "user"]
    answers = [
        _text(m.get("content"), where, "content") for m in messages if m.get("role") == "assistant"
    ]
    if not user:
        raise DataError(f"{where}: 'messages' has no user turn to use as the instruction.")
    return user[0], [("", answers[-1])] if answers else []


def _instances(data: dict[str, Any], where: str) -> list[tuple[str, str]]:
    if "instances" in data:
        raw = data["instances"]
        if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
            raise DataError(f"{where}: 'instances' must be a list of {{input, output}} objects.")
        return [
            (_text(i.get("input"), where, "input"), _text(i.get("output"), where, "output"))
            for i in raw
        ]
    if "output" in data:
        return [(_text(data.get("input"), where, "input"), _text(data["output"], where, "output"))]
    return []


def _parse_line(data: Any, where: str, line_no: int) -> SeedTask:
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(data).__name__}.")
    if "instruction" in data:
        instruction = _text(data["instruction"], where, "instruction")
        instances = _instances(data, where)
    elif "messages" in data:
        instruction, instances = _from_messages(data, where)
    else:
        raise DataError(
            f"{where}: no 'instruction' (or 'messages') key. Each line must be a seed task "
            'such as {"instruction": ..., "instances": [{"input": ..., "output": ...}]}.'
        )
    if not instruction.strip():
        raise DataError(f"{where}: the instruction is empty.")
    flag = data.get("is_classification")
    if flag is not None and not isinstance(flag, bool):
        raise DataError(f"{where}: 'is_classification' must be true or false, got {flag!r}.")
    task_id = data.get("id")
    name = data.get("name")
    return SeedTask(
        id=str(task_id) if task_id is not None else f"seed-{line_no}",
        instruction=instruction,
        instances=instances,
        is_classification=flag,
        name=name if isinstance(name, str) else "",
    )


def read_seed_file(text: str, where: str) -> list[SeedTask]:
    """Parse the text of a seed file; ``where`` names it in error messages."""
    tasks: list[SeedTask] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        place = f"{where}, line {line_no}"
        try:
            tasks.append(_parse_line(orjson.loads(line), place, line_no))
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"{place}: not valid JSON ({exc}). Each line must hold one JSON object.",
                path=where,
                line=line_no,
            ) from exc
        except DataError as exc:  # the line's problem, raised without its place
            exc.context.update(path=where, line=line_no)
            raise
    if not tasks:
        raise DataError(
            f"The seed file {where} holds no seed tasks; add one JSON object per line.", path=where
        )
    return tasks


def load_seed_tasks(
    location: str, base_dir: str | Path = ".", allowed: Iterable[str | Path] = ()
) -> list[SeedTask]:
    """Read a seed file (a path, or ``teachkit:<name>`` for a file shipped with teachkit).

    A path must lie in ``base_dir`` or one of ``allowed`` (see
    :func:`teachkit.recipe.paths.resolve_input`)."""
    text, where = _read_text(location, base_dir, allowed)
    return read_seed_file(text, where)
