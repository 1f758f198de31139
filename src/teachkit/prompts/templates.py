"""Sandboxed Jinja2 templates with declared variables.

Templates come from recipes, which users share, so they render in Jinja2's sandbox: no attribute
access to Python internals, no imports. Undefined variables are errors, found when the recipe is
loaded (names are checked against the variables the recipe declares) rather than mid-run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from teachkit.errors import RecipeError

__all__ = ["Template", "compile_template"]

#: a template that is one variable and nothing else renders without Jinja (the hot path)
_ONE_VARIABLE = re.compile(r"\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*")

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


class Template:
    """A compiled template; ``variables`` are the names it reads, ``hash`` identifies its text."""

    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name
        try:
            parsed = _ENV.parse(source)
            self._template = _ENV.from_string(source)
        except TemplateError as exc:
            raise RecipeError(
                f"The template {name} does not parse: {exc}. Fix its Jinja2 syntax."
            ) from exc
        self.variables: frozenset[str] = frozenset(meta.find_undeclared_variables(parsed))
        self.hash = "t1:" + hashlib.sha256(source.encode()).hexdigest()[:16]
        single = _ONE_VARIABLE.fullmatch(source)
        self._single: str | None = single.group(1) if single else None
        plain = not any(mark in source for mark in ("{{", "{%", "{#"))
        self._constant: str | None = source.strip() if plain else None

    def check_variables(self, available: Iterable[str]) -> None:
        missing = sorted(self.variables - set(available))
        if missing:
            names = ", ".join(missing)
            known = ", ".join(sorted(available)) or "none"
            raise RecipeError(
                f"The template {self.name} uses {names}, which the recipe does not define "
                f"(available: {known}). Declare it as an axis or fix the name."
            )

    def render(self, **variables: Any) -> str:
        if self._constant is not None:
            return self._constant
        if self._single is not None and isinstance(variables.get(self._single), str):
            return str(variables[self._single]).strip()
        try:
            return self._template.render(**variables).strip()
        except TemplateError as exc:
            raise RecipeError(f"The template {self.name} failed to render: {exc}.") from exc


def compile_template(source: str, name: str = "template") -> Template:
    return Template(source, name)
