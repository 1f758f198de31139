"""Sandboxed Jinja2 templates with declared variables and bounded work.

Templates come from recipes, which users share, so they render in Jinja2's sandbox: no attribute
access to Python internals, no imports. Undefined variables are errors, found when the recipe is
loaded (names are checked against the variables the recipe declares) rather than mid-run. Every
render is bounded in steps, time and size (:mod:`teachkit.prompts.limits`): a template that goes
past a bound raises :class:`~teachkit.errors.TemplateLimitError` instead of hanging the run or
filling the memory, and any other failure while rendering is a :class:`RecipeError` sentence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta

from teachkit.errors import RecipeError, TemplateLimitError
from teachkit.prompts.budget import RenderLimits, end_render, start_render
from teachkit.prompts.limits import LimitedEnvironment, guard_tree

__all__ = ["RenderLimits", "Template", "compile_template"]

#: a template that is one variable and nothing else renders without Jinja (the hot path)
_ONE_VARIABLE = re.compile(r"\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*")

_ENV = LimitedEnvironment(
    undefined=StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


class Template:
    """A compiled template; ``variables`` are the names it reads, ``hash`` identifies its text."""

    def __init__(self, source: str, name: str, limits: RenderLimits | None = None) -> None:
        self.source = source
        self.name = name
        self.limits = limits or RenderLimits()
        try:
            parsed = _ENV.parse(source)
            self.variables: frozenset[str] = frozenset(meta.find_undeclared_variables(parsed))
            self._template = _ENV.from_string(guard_tree(parsed))
        except TemplateError as exc:
            raise RecipeError(
                f"The template {name} does not parse: {exc}. Fix its Jinja2 syntax."
            ) from exc
        except RecursionError:
            raise RecipeError(
                f"The template {name} nests expressions too deeply to compile; simplify it."
            ) from None
        except RecipeError as exc:
            raise RecipeError(f"The template {name} cannot be used: {exc}") from None
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
        limit = self.limits.max_chars
        token = start_render(self.limits)
        try:
            parts: list[str] = []
            size = 0
            for piece in self._template.generate(**variables):
                size += len(piece)
                if size > limit:
                    raise TemplateLimitError(f"it rendered more than {limit:,} characters")
                parts.append(piece)
            return "".join(parts).strip()
        except TemplateLimitError as exc:
            raise TemplateLimitError(
                f"The template {self.name} went past a limit: {exc}. Simplify the template; "
                "the limits are listed in docs/security.md.",
                template=self.name,
            ) from None
        except TemplateError as exc:
            raise RecipeError(f"The template {self.name} failed to render: {exc}.") from exc
        except RecursionError:
            raise TemplateLimitError(
                f"The template {self.name} went past a limit: it recurses too deeply (a macro "
                "calling itself?). Simplify the template.",
                template=self.name,
            ) from None
        except MemoryError:
            raise TemplateLimitError(
                f"The template {self.name} went past a limit: it ran out of memory. Simplify it.",
                template=self.name,
            ) from None
        except RecipeError:
            raise
        except Exception as exc:  # a wrong type, a division by zero, a bad format string
            raise RecipeError(
                f"The template {self.name} failed to render: {type(exc).__name__}: "
                f"{str(exc)[:200]}. Fix the template (or the values it is given)."
            ) from None
        finally:
            end_render(token)


def compile_template(
    source: str, name: str = "template", limits: RenderLimits | None = None
) -> Template:
    return Template(source, name, limits)
