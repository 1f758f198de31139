"""Backends are found through the ``teachkit.teachers`` entry-point group.

The built-in backends register through the same group a third-party plugin uses, so the extension
point is exercised by every run. A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."teachkit.teachers"]
    mybackend = "my_package.module:MyBackend"
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from teachkit.errors import PluginError, RecipeError
from teachkit.recipe.base import TeacherConfig
from teachkit.registry import Registry
from teachkit.teachers.backend import Backend

__all__ = ["BACKENDS", "available_backends", "backend_class", "build_backend", "register_backend"]


def _check(obj: object) -> str | None:
    if isinstance(obj, type) and issubclass(obj, Backend):
        return None
    return f"it is {obj!r}, not a subclass of teachkit.teachers.backend.Backend"


BACKENDS: Registry[type[Backend[Any]]] = Registry("teachkit.teachers", "teacher backend", _check)


def register_backend(cls: type[Backend[Any]]) -> None:
    """Register a backend class in-process (tests and notebooks; packages use entry points)."""
    BACKENDS.register(cls.id, cls)


def available_backends() -> list[str]:
    return BACKENDS.names()


def backend_class(name: str) -> type[Backend[Any]]:
    try:
        return BACKENDS.get(name)
    except PluginError as exc:
        if exc.context.get("module"):
            raise
        known = ", ".join(available_backends()) or "none"
        raise PluginError(
            f"teacher.backend: unknown backend {name!r}. Available backends: {known}. "
            "A plugin backend must be installed to be found.",
            backend=name,
        ) from None


def build_backend(config: TeacherConfig) -> Backend[Any]:
    cls = backend_class(config.backend)
    try:
        options = cls.Options.model_validate(config.options)
    except ValidationError as exc:
        problems = "; ".join(
            f"teacher.options.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise RecipeError(
            f"The {config.backend} backend's options are invalid: {problems}.",
            backend=config.backend,
            model=config.model,
        ) from exc
    return cls(config, options)
