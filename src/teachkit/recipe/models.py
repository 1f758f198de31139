"""The Recipe model: a teacher, a generator, a filter chain, and where outputs go.

Generator and filter kinds are discriminated by their ``kind`` key. Each kind's spec model lives
next to its implementation (``generators/<kind>.py``, ``filters/<kind>.py``), exposes
``build(...)`` and is found through the registry (:mod:`teachkit.recipe.kinds`), so a plugin's
kinds validate exactly like the built-in ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike, fspath
from typing import Annotated

from pydantic import Field, PrivateAttr, SerializeAsAny, model_validator

from teachkit.errors import RecipeError
from teachkit.recipe.base import CacheConfig, RunConfig, Seed, StrictModel, TeacherConfig
from teachkit.recipe.export import ExportSpec
from teachkit.recipe.kinds import (
    FILTERS,
    GENERATORS,
    FilterSpecBase,
    GeneratorSpecBase,
    kind_field,
)
from teachkit.recipe.quality import QualityConfig

__all__ = [
    "FILTERS",
    "GENERATORS",
    "ExportSpec",
    "FilterSpec",
    "GeneratorSpec",
    "QualityConfig",
    "Recipe",
]

#: a generator section: its ``kind`` picks the spec model from the registry
GeneratorSpec = Annotated[SerializeAsAny[GeneratorSpecBase], kind_field(GENERATORS, "generator")]
#: one entry of ``filters:``
FilterSpec = Annotated[SerializeAsAny[FilterSpecBase], kind_field(FILTERS, "filter")]


class OutputConfig(StrictModel):
    #: run directory; default ``runs/<recipe name>`` (``--out`` on the command line wins)
    dir: str | None = None


class Recipe(StrictModel):
    """A whole dataset description. Build it in Python or load it with ``load_recipe``."""

    name: str = Field(default="dataset", min_length=1, max_length=100, pattern=r"^[\w.\-]+$")
    description: str | None = None
    seed: Seed = 0
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    #: what to generate; a recipe without one only filters (``teachkit filter``)
    generator: GeneratorSpec | None = None
    filters: list[FilterSpec] = Field(default_factory=list)
    #: put the filters in cost order (rules, dedup/novelty, judge, verify) instead of as written
    order_filters: bool = True
    cache: CacheConfig = Field(default_factory=CacheConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    #: training files written at the end of a complete run (default folder ``<run dir>/dataset``)
    export: ExportSpec | None = None
    #: the quality panel and report computed at the end of a complete run
    quality: QualityConfig = Field(default_factory=QualityConfig)
    #: the model the data will train: a model id (``org/name``) or a GGUF file; the run refuses
    #: a teacher that is this student or was trained on its lineage's data (docs/quality.md)
    student: str | None = Field(default=None, min_length=1)
    #: runs (or exports) whose data the teacher was trained on, besides those the recipe's input
    #: files come from: they make this run the next generation of their lineage
    trained_on: list[str] = Field(default_factory=list)
    #: let a teacher of the student's lineage make the data, when real data is mixed into train
    #: (``export.mix_real`` with ``export.real_fraction`` above 0)
    allow_closed_loop: bool = False
    #: directory relative paths in the recipe resolve against (the YAML file's folder)
    _base_dir: str = PrivateAttr(default=".")
    #: folders outside ``base_dir`` the user allowed data files to come from (``--allow-path``)
    _allowed_paths: tuple[str, ...] = PrivateAttr(default=())

    @property
    def base_dir(self) -> str:
        return self._base_dir

    @property
    def allowed_paths(self) -> tuple[str, ...]:
        return self._allowed_paths

    def set_base_dir(self, path: str, allowed: Iterable[str | PathLike[str]] | None = None) -> None:
        """Where relative paths resolve, and (when given) the folders also allowed to be read."""
        self._base_dir = path
        if allowed is not None:
            self._allowed_paths = tuple(fspath(p) for p in allowed)

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

    @model_validator(mode="after")
    def _closed_loop_needs_real_data(self) -> Recipe:
        if self.allow_closed_loop and self.real_fraction == 0:
            raise ValueError(
                "allow_closed_loop needs real data in every generation: set export.mix_real to a "
                "file of real examples and export.real_fraction above 0 (10-30% keeps the "
                "experiments in docs/quality.md stable)"
            )
        return self

    @property
    def real_fraction(self) -> float:
        """The share of real rows the export mixes into train (0 without ``export.mix_real``)."""
        spec = self.export
        if spec is None or spec.mix_real is None:
            return 0.0
        return float(spec.real_fraction)

    def require_generator(self) -> GeneratorSpecBase:
        """The generator spec; a filter-only recipe cannot be run."""
        if self.generator is None:
            raise RecipeError(
                "The recipe has no generator, so `teachkit run` has nothing to make. Add a "
                "'generator:' section, or use the recipe with `teachkit filter` to clean data."
            )
        return self.generator
