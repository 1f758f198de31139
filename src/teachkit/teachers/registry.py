"""Backends are found through the ``teachkit.teachers`` entry-point group.

The built-in backends register through the same group a third-party plugin uses, so the extension
point is exercised by every run. A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."teachkit.teachers"]
    mybackend = "my_package.module:MyBackend"
"""

from __future__ import annotations

from importlib.metadata import entry_points

from pydantic import ValidationError

from teachkit.errors import RecipeError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.base import Backend

__all__ = ["available_backends", "backend_class", "build_backend"]

GROUP = "teachkit.teachers"
_extra: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> None:
    """Register a backend class in-process (tests and notebooks; packages use entry points)."""
    _extra[cls.id] = cls


def available_backends() -> list[str]:
    names = {ep.name for ep in entry_points(group=GROUP)} | set(_extra)
    return sorted(names)


def backend_class(name: str) -> type[Backend]:
    if name in _extra:
        return _extra[name]
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Backend)):
                raise RecipeError(f"The teacher backend {name!r} ({ep.value}) is not a Backend.")
            return cls
    known = ", ".join(available_backends()) or "none"
    raise RecipeError(
        f"teacher.backend: unknown backend {name!r}. Available backends: {known}. "
        "A plugin backend must be installed to be found."
    )


def build_backend(config: TeacherConfig) -> Backend:
    cls = backend_class(config.backend)
    try:
        options = cls.Options.model_validate(config.options)
    except ValidationError as exc:
        problems = "; ".join(
            f"teacher.options.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise RecipeError(
            f"The {config.backend} backend's options are invalid: {problems}."
        ) from exc
    return cls(config, options)
