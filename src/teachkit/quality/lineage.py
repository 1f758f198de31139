"""Lineage: which generation a run's data is, and the guard that refuses to close the loop.

Every run writes ``lineage.json``: its teacher's identity, its student's (the recipe's
``student``), its generation, the real fraction its export mixes in, and the earlier runs its
data came from (its **parents**: runs or exports that the recipe's input files are part of,
e.g. ``generator.seeds``, a filter's ``against``, ``export.mix_real``, and the runs named in
``trained_on``), with the whole chain of their ancestors copied in, so the file stays readable
when those directories move.

:func:`plan_lineage` runs before a run touches its directory. It refuses (a
:class:`RecipeError` whose sentence says why and what to do) when the teacher

* is the student (:func:`teachkit.quality.identity.same_model`), or
* was trained on this lineage's data: an ancestor's ``lineage.json`` names it as that run's
  student, or the recipe says so (``trained_on``),

unless the recipe sets ``allow_closed_loop: true`` with real data mixed in. The generation is 0
for a teacher outside the lineage and ``k + 1`` for a teacher trained on generation-``k`` data
(and at least the declared ``teacher.generation_depth``); the engine stamps it on every record
(``meta.depth``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from teachkit.errors import MissingExtraError, RecipeError, TeachkitError
from teachkit.quality.identity import ModelIdentity, identify, same_model
from teachkit.recipe.base import TeacherConfig
from teachkit.recipe.models import Recipe
from teachkit.teachers.registry import backend_class

__all__ = [
    "LINEAGE_FILE",
    "SCHEMA_ID",
    "Ancestor",
    "Lineage",
    "find_lineage",
    "plan_lineage",
    "teacher_identity",
]

log = logging.getLogger("teachkit")

LINEAGE_FILE = "lineage.json"
SCHEMA_ID = "teachkit.lineage/1"
#: fields of recipe specs whose strings are data files (as the run identity reads them)
_FILE_FIELDS = frozenset({"file", "files", "path", "paths", "seeds", "against", "data"})


@dataclass
class Ancestor:
    """An earlier run of the lineage."""

    path: str
    generation: int
    teacher: ModelIdentity | None
    student: ModelIdentity | None
    #: how this run reaches it: a recipe field (``generator.seeds``) or ``ancestor``
    via: str = "ancestor"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "generation": self.generation,
            "teacher": self.teacher.to_dict() if self.teacher else None,
            "student": self.student.to_dict() if self.student else None,
            "via": self.via,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], via: str | None = None) -> Ancestor:
        teacher, student = data.get("teacher"), data.get("student")
        return cls(
            path=str(data.get("path", "")),
            generation=int(data.get("generation") or 0),
            teacher=ModelIdentity.from_dict(teacher) if teacher else None,
            student=ModelIdentity.from_dict(student) if student else None,
            via=via or str(data.get("via", "ancestor")),
        )


@dataclass
class Lineage:
    """What ``lineage.json`` holds."""

    recipe: str
    generation: int
    teacher: ModelIdentity
    student: ModelIdentity | None
    real_fraction: float
    real_file: str | None
    allow_closed_loop: bool
    parents: list[Ancestor] = field(default_factory=list)
    ancestors: list[Ancestor] = field(default_factory=list)
    #: why the loop is closed (allowed), or None
    closed_loop: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "recipe": self.recipe,
            "generation": self.generation,
            "teacher": self.teacher.to_dict(),
            "student": self.student.to_dict() if self.student else None,
            "real_fraction": self.real_fraction,
            "real_file": self.real_file,
            "allow_closed_loop": self.allow_closed_loop,
            "closed_loop": self.closed_loop,
            "parents": [p.to_dict() for p in self.parents],
            "ancestors": [a.to_dict() for a in self.ancestors],
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def write(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / LINEAGE_FILE
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        tmp.replace(path)
        return path


def teacher_identity(config: TeacherConfig, base_dir: str | Path | None = None) -> ModelIdentity:
    """The identity of the model a teacher section names (its GGUF file when it has one; the
    embedded teacher's packaged file when ``llamacpp`` names no model)."""
    if config.model is not None:
        return identify(config.model, base_dir=base_dir)
    cls = backend_class(config.backend)
    if cls.id == "llamacpp":
        from teachkit.teachers.llamacpp import default_model_path

        try:
            return identify(str(default_model_path()))
        except (MissingExtraError, TeachkitError) as exc:
            log.info("the embedded model's file cannot be read (%s); using its name", exc)
    return identify(cls.default_model or config.backend)


# --- finding parents ------------------------------------------------------------------------
def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        log.warning("%s cannot be read; it is not used for the lineage", path)
        return None
    return data if isinstance(data, dict) else None


def find_lineage(path: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The run directory and ``lineage.json`` that ``path`` (a run directory, an export
    folder, or a file inside either) belongs to, or None."""
    path = Path(path).resolve()
    folders = [path] if path.is_dir() else []
    folders += list(path.parents)[:3]
    for folder in folders:
        own = folder / LINEAGE_FILE
        if own.is_file():
            data = _read(own)
            return (folder, data) if data is not None else None
        export = folder / "export.json"
        if export.is_file():
            source = (_read(export) or {}).get("source_run")
            if isinstance(source, str) and source:
                for run in (Path(source), folder.parent / Path(source).name):
                    if (run / LINEAGE_FILE).is_file():
                        data = _read(run / LINEAGE_FILE)
                        return (run.resolve(), data) if data is not None else None
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _spec_files(model: Any, where: str) -> Iterator[tuple[str, str]]:
    """(recipe field, path string) of every data file a spec names."""
    if isinstance(model, BaseModel):
        for name in type(model).model_fields:
            value = getattr(model, name, None)
            if name in _FILE_FIELDS:
                for text in _strings(value):
                    yield f"{where}.{name}", text
            yield from _spec_files(value, f"{where}.{name}")
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            yield from _spec_files(item, f"{where}[{i}]")
    elif isinstance(model, dict):
        for key, item in model.items():
            if key in _FILE_FIELDS:
                for text in _strings(item):
                    yield f"{where}.{key}", text
            else:
                yield from _spec_files(item, f"{where}.{key}")


def input_files(recipe: Recipe) -> list[tuple[str, Path]]:
    """(recipe field, path) of every existing data file or folder the recipe reads."""
    found: list[tuple[str, str]] = list(_spec_files(recipe.generator, "generator"))
    found += list(_spec_files(recipe.filters, "filters"))
    if recipe.export is not None:
        found += [
            (f"export.{k}", v)
            for k in ("mix_real", "validation")
            if (v := getattr(recipe.export, k))
        ]
    if recipe.quality.reference:
        found.append(("quality.reference", recipe.quality.reference))
    base = Path(recipe.base_dir)
    out: list[tuple[str, Path]] = []
    for where, text in found:
        path = Path(text).expanduser()
        path = path if path.is_absolute() else base / path
        if path.exists():
            out.append((where, path))
    return out


# --- the guard ------------------------------------------------------------------------------
def _refusal(teacher: ModelIdentity, why: str, *, run: str | None = None) -> RecipeError:
    loop = (
        f"The teacher {teacher.label} is the student this data is for ({why})"
        if run is None
        else f"The teacher {teacher.label} was trained on data of the run {run} ({why})"
    )
    return RecipeError(
        f"{loop}, so this run would close the loop: a model trained on its own outputs loses "
        "the tails of the real distribution first and then collapses (Shumailov et al. 2024). "
        "Use a fixed teacher outside the student's lineage, or set allow_closed_loop: true with "
        "export.mix_real and export.real_fraction above 0 to keep real data in every generation.",
        teacher=teacher.label,
        run=run,
    )


def _ancestors_of(recipe: Recipe) -> tuple[list[Ancestor], list[Ancestor], list[Ancestor]]:
    """(parents through input files, runs named in trained_on, every ancestor once)."""
    parents: list[Ancestor] = []
    trained: list[Ancestor] = []
    seen: dict[str, Ancestor] = {}
    base = Path(recipe.base_dir)
    named = [("trained_on", Path(p).expanduser()) for p in recipe.trained_on]
    named = [(w, p if p.is_absolute() else base / p) for w, p in named]
    for where, path in [*input_files(recipe), *named]:
        found = find_lineage(path)
        if found is None:
            if where == "trained_on":
                raise RecipeError(
                    f"trained_on: {path} holds no {LINEAGE_FILE} (it is not a teachkit run "
                    "directory or an export of one). Name the run directory the teacher's "
                    "training data came from.",
                    path=str(path),
                )
            continue
        folder, data = found
        me = Ancestor.from_dict({**data, "path": str(folder)}, via=where)
        (trained if where == "trained_on" else parents).append(me)
        for entry in [me, *(Ancestor.from_dict(a) for a in data.get("ancestors") or [])]:
            seen.setdefault(entry.path, entry)
    return parents, trained, list(seen.values())


def plan_lineage(recipe: Recipe, teacher: ModelIdentity | None = None) -> Lineage:
    """The run's lineage, or a :class:`RecipeError` when it would close the loop unasked."""
    teacher = teacher or teacher_identity(recipe.teacher, recipe.base_dir)
    student = identify(recipe.student, base_dir=recipe.base_dir) if recipe.student else None
    parents, trained, ancestors = _ancestors_of(recipe)
    reasons: list[tuple[str, str | None]] = []
    generation = recipe.teacher.generation_depth
    if student is not None and (why := same_model(teacher, student)):
        reasons.append((why, None))
    for ancestor in ancestors:
        if ancestor.student is not None and (why := same_model(teacher, ancestor.student)):
            reasons.append((why, ancestor.path))
            generation = max(generation, ancestor.generation + 1)
    for named in trained:
        reasons.append(("trained_on names it", named.path))
        generation = max(generation, named.generation + 1)
    real_file = recipe.export.mix_real if recipe.export is not None else None
    lineage = Lineage(
        recipe=recipe.name,
        generation=generation,
        teacher=teacher,
        student=student,
        real_fraction=recipe.real_fraction,
        real_file=real_file if recipe.real_fraction else None,
        allow_closed_loop=recipe.allow_closed_loop,
        parents=parents + trained,
        ancestors=ancestors,
    )
    if reasons:
        why, run = reasons[0]
        if not recipe.allow_closed_loop:
            raise _refusal(teacher, why, run=run)
        lineage.closed_loop = str(_refusal(teacher, why, run=run)).split(", so this run")[0]
        log.warning(
            "%s; allowed (allow_closed_loop) with %.0f%% real data in train, generation %d",
            lineage.closed_loop,
            100 * recipe.real_fraction,
            generation,
        )
    return lineage
