"""Recipe sections chosen by ``kind``: generators, filters and verifiers, found in the registry.

Each kind is a spec model (a :class:`KindSpec` subclass whose ``kind`` is a one-value
``Literal``) registered in an entry-point group; built-ins are declared in teachkit's own
``pyproject.toml`` exactly like a plugin's. A recipe section is validated by looking its ``kind``
up in the registry and validating the rest against that model, so a plugin's kinds get the same
field paths in error messages as the built-in ones, and a kind registered in-process
(:meth:`Registry.register`) is usable at once.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import Field, ValidationInfo, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

from teachkit.errors import PluginError
from teachkit.recipe.base import StrictModel
from teachkit.registry import Registry

__all__ = [
    "FILTERS",
    "GENERATORS",
    "VERIFIERS",
    "FilterSpecBase",
    "GeneratorSpecBase",
    "KindSpec",
    "VerifierSpecBase",
    "kind_field",
]


class KindSpec(StrictModel):
    """Base of every section chosen by ``kind``."""

    kind: str

    def build(self, ctx: Any) -> Any:
        """The working object this spec describes (a generator, filter or verifier)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement build()")

    def input_files(self) -> list[str]:
        """Data files this spec reads that :mod:`teachkit.recipe.identity` cannot find by
        itself (it already sees axis files and fields named ``file``, ``seeds``, ``against``,
        ``path``, ...), as written in the recipe: their contents join the run's identity."""
        return []


class GeneratorSpecBase(KindSpec):
    """Common keys of every generator: how many accepted records the run should end with."""

    count: int = Field(ge=1, le=100_000_000, strict=True)


class FilterSpecBase(KindSpec):
    """Common keys of every filter in a recipe's ``filters:`` list."""

    #: label in the funnel and in rejected records (default: the kind)
    name: str | None = None


class VerifierSpecBase(KindSpec):
    """Common keys of every verifier (the ``verify`` filter's ``verifier:`` section)."""


def _kind_of(cls: type[KindSpec]) -> str | None:
    field = cls.model_fields.get("kind")
    values = get_args(field.annotation) if field is not None else ()
    return str(values[0]) if len(values) == 1 else None


def _checker(base: type[KindSpec]) -> Any:
    def check(obj: object) -> str | None:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            return f"it is {obj!r}, not a subclass of {base.__module__}.{base.__name__}"
        if _kind_of(obj) is None:
            return "its 'kind' field is not a one-value Literal such as Literal['my_kind']"
        return None

    return check


GENERATORS: Registry[type[GeneratorSpecBase]] = Registry(
    "teachkit.generators", "generator kind", _checker(GeneratorSpecBase)
)
FILTERS: Registry[type[FilterSpecBase]] = Registry(
    "teachkit.filters", "filter kind", _checker(FilterSpecBase)
)
VERIFIERS: Registry[type[VerifierSpecBase]] = Registry(
    "teachkit.verifiers", "verifier kind", _checker(VerifierSpecBase)
)


def kind_field(registry: Registry[Any], role: str) -> WrapValidator:
    """A validator that picks the spec model by ``kind`` from ``registry``."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if isinstance(value, KindSpec):
            expected = registry.get(value.kind)
            if isinstance(value, expected):
                return value
            return expected.model_validate(value.model_dump(), context=info.context)
        if not isinstance(value, dict):
            raise ValueError(f"a {role} is a mapping with a 'kind' key, got {type(value).__name__}")
        kind = value.get("kind")
        if not isinstance(kind, str) or not kind:
            raise PydanticCustomError(
                "unknown_kind",
                "a {role} needs a 'kind' (one of: {known})",
                {"role": role, "known": ", ".join(registry.names()) or "none"},
            )
        try:
            cls = registry.get(kind)
        except PluginError as exc:
            if exc.context.get("module"):  # it exists but does not load: say why, not "unknown"
                raise
            raise PydanticCustomError(
                "unknown_kind",
                "unknown kind '{kind}'; expected one of: {known}",
                {"kind": kind, "known": ", ".join(registry.names())},
            ) from None
        return cls.model_validate(value, context=info.context)

    return WrapValidator(validate)
