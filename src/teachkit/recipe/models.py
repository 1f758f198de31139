"""The Recipe model: a teacher, a generator, a filter chain, and where outputs go.

Generator and filter kinds are discriminated by their ``kind`` key. Each kind's spec model lives
next to its implementation (``generators/<kind>.py``, ``filters/<kind>.py``) and exposes
``build(...)``; this module gathers them into the unions the recipe validates against.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field, PrivateAttr, model_validator

from teachkit.errors import RecipeError
from teachkit.recipe.base import CacheConfig, RunConfig, StrictModel, TeacherConfig

__all__ = ["FILTER_SPECS", "GENERATOR_SPECS", "Recipe"]

#: (module, class) of every built-in generator kind, in documentation order
_GENERATORS = (
    ("teachkit.generators.templated", "TemplatedSpec"),
    ("teachkit.generators.self_instruct", "SelfInstructSpec"),
    ("teachkit.generators.alpaca", "AlpacaSpec"),
)
#: (module, class) of every built-in filter kind
_FILTERS = (
    ("teachkit.filters.rules", "RulesSpec"),
    ("teachkit.filters.dedup", "DedupSpec"),
    ("teachkit.filters.novelty", "NoveltySpec"),
    ("teachkit.filters.judge", "JudgeSpec"),
)


def _load(entries: tuple[tuple[str, str], ...]) -> list[type[StrictModel]]:
    specs: list[type[StrictModel]] = []
    for module_name, class_name in entries:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a kind whose module is absent from this install
            if exc.name == module_name:
                continue
            raise
        specs.append(getattr(module, class_name))
    return specs


GENERATOR_SPECS = _load(_GENERATORS)
FILTER_SPECS = _load(_FILTERS)


def _union(specs: list[type[StrictModel]]) -> Any:
    if len(specs) == 1:
        return specs[0]
    return Annotated[Union[tuple(specs)], Field(discriminator="kind")]  # noqa: UP007


if TYPE_CHECKING:
    GeneratorSpec = Any
    FilterSpec = Any
else:
    GeneratorSpec = _union(GENERATOR_SPECS)
    FilterSpec = _union(FILTER_SPECS) if FILTER_SPECS else None


class OutputConfig(StrictModel):
    #: run directory; default ``runs/<recipe name>`` (``--out`` on the command line wins)
    dir: str | None = None


class Recipe(StrictModel):
    """A whole dataset description. Build it in Python or load it with ``load_recipe``."""

    name: str = Field(default="dataset", min_length=1, max_length=100, pattern=r"^[\w.\-]+$")
    description: str | None = None
    seed: int = 0
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    #: what to generate; a recipe without one only filters (``teachkit filter``)
    generator: GeneratorSpec | None = None
    filters: list[FilterSpec] = Field(default_factory=list)
    #: put the filters in cost order (rules, dedup/novelty, judge, verify) instead of as written
    order_filters: bool = True
    cache: CacheConfig = Field(default_factory=CacheConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    #: directory relative paths in the recipe resolve against (the YAML file's folder)
    _base_dir: str = PrivateAttr(default=".")

    @property
    def base_dir(self) -> str:
        return self._base_dir

    def set_base_dir(self, path: str) -> None:
        self._base_dir = path

    @model_validator(mode="after")
    def _unique_filter_names(self) -> Recipe:
        names = [f.name or f.kind for f in self.filters]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(
                    f"two filters are named {name!r}; give each a distinct 'name' so the funnel "
                    "and rejected records can tell them apart"
                )
            seen.add(name)
        return self

    def require_generator(self) -> Any:
        """The generator spec; a filter-only recipe cannot be run."""
        if self.generator is None:
            raise RecipeError(
                "The recipe has no generator, so `teachkit run` has nothing to make. Add a "
                "'generator:' section, or use the recipe with `teachkit filter` to clean data."
            )
        return self.generator
