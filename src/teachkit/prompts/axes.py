"""Diversity axes: what a recipe varies (domain, persona, difficulty, style) and how to pick it.

An axis is a list of values, written inline or read from a file (one value a line, or JSONL), each
value optionally weighted. An :class:`AxisSampler` turns a job index into one value per axis:

* ``cartesian``: every combination once per cycle, in an order where each axis is balanced early on
  (the first ``n`` indices, ``n`` the size of the largest axis, walk every axis round-robin);
* ``random``: an independent, weighted draw per axis, seeded by the run seed, axis and index;
* ``round_robin``: each axis cycles on its own (``index % len``).

The same index always gives the same values, whatever was asked before: a resumed run rebuilds its
jobs by index. Values become template variables and are stored in each record's ``meta.axes``.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import keyword
import logging
import math
import random
import re
import reprlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from teachkit.errors import DataError, RecipeError
from teachkit.prompts.coverage import (
    Coverage,
)
from teachkit.recipe.base import StrictModel
from teachkit.recipe.paths import InputPath, resolve_input

__all__ = [
    "Axes",
    "AxisSampler",
    "AxisSampling",
    "AxisSpec",
    "Coverage",
    "WeightedValue",
    "variable_name_problem",
]

log = logging.getLogger("teachkit")

AxisSampling = Literal["cartesian", "random", "round_robin"]

#: the largest axis file read
MAX_AXIS_FILE_BYTES = 64 * 2**20

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: names a template cannot use as plain variables, or that would hide a Jinja2 global
_RESERVED = frozenset(keyword.kwlist) | {
    "true", "false", "none", "self", "loop", "caller", "varargs", "kwargs", "super",
    "range", "dict", "lipsum", "cycler", "joiner", "namespace",
}  # fmt: skip


def variable_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a template variable, or None when it can."""
    if not _NAME.match(name):
        return (
            f"{name!r} is not a valid template variable name: use letters, digits and "
            "underscores, not starting with a digit (for example 'target_language')"
        )
    if name in _RESERVED:
        return f"{name!r} is reserved in templates; choose another name (for example '{name}_')"
    return None


def _scalar(value: Any, where: str) -> Any:
    """YAML numbers become strings; YAML booleans (yes/no/on/off) are almost always a mistake."""
    if isinstance(value, bool):
        raise ValueError(f"{where} {value!r} was read as a boolean; quote it (e.g. 'yes')")
    if isinstance(value, int | float):
        return str(value)
    return value


class WeightedValue(StrictModel):
    """One value with a sampling weight (only ``random`` sampling uses weights)."""

    value: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers(cls, data: Any) -> Any:
        if isinstance(data, dict) and "value" in data:
            return {**data, "value": _scalar(data["value"], "the axis value")}
        return data


class AxisSpec(StrictModel):
    """One axis: inline ``values`` or a ``file``, optionally weighted.

    In a recipe an axis may also be written as a plain list (``style: [formal, casual]``) or as a
    file name (``persona: personas.txt``).
    """

    values: list[str | WeightedValue] | None = None
    #: one value a line (blank lines and lines starting with '#' are skipped), or JSONL;
    #: a value met again is merged with the first, adding its weight. Relative to the recipe's
    #: folder, and confined to it (see :mod:`teachkit.recipe.paths`)
    file: InputPath | None = None
    #: how to read ``file``: by its extension (.jsonl/.ndjson are JSONL), as lines, or as JSONL
    format: Literal["auto", "lines", "jsonl"] = "auto"
    #: the JSONL key holding the value; a line may also be a bare JSON string
    field: str = "value"
    #: weight per value (a mapping value -> weight, or a list parallel to inline ``values``)
    weights: dict[str, float] | list[float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"file": data}
        if isinstance(data, list):
            data = {"values": data}
        if isinstance(data, dict) and isinstance(data.get("values"), list):
            values = [_scalar(v, "the axis value") for v in data["values"]]
            return {**data, "values": values}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> AxisSpec:
        if (self.values is None) == (self.file is None):
            raise ValueError("an axis needs exactly one of 'values' (a list) or 'file' (a path)")
        if self.values is not None:
            if not self.values:
                raise ValueError("the axis has no values; list at least one")
            names = [v if isinstance(v, str) else v.value for v in self.values]
            dupes = sorted(v for v, n in Counter(names).items() if n > 1)
            if dupes:
                raise ValueError(f"the axis lists {', '.join(map(repr, dupes))} more than once")
            if isinstance(self.weights, list) and len(self.weights) != len(names):
                raise ValueError(
                    f"'weights' has {len(self.weights)} numbers for {len(names)} values; "
                    "give one weight per value"
                )
            if isinstance(self.weights, dict):
                unknown = sorted(set(self.weights) - set(names))
                if unknown:
                    raise ValueError(f"'weights' names values not in the axis: {unknown}")
        elif isinstance(self.weights, list):
            raise ValueError(
                "a weight list only goes with inline values; for a file use a mapping "
                "(value: weight) or a 'weight' key in each JSONL line"
            )
        weights = self.weights.values() if isinstance(self.weights, dict) else self.weights or []
        if any(not (math.isfinite(w) and w > 0) for w in weights):
            raise ValueError("every weight must be a positive number")
        return self

    def load(
        self, name: str, base_dir: str | Path = ".", allowed: Iterable[str | Path] = ()
    ) -> tuple[list[str], list[float]]:
        """The axis values and their weights. A file is resolved against ``base_dir`` and must
        lie inside it or inside one of ``allowed``."""
        if self.values is not None:
            pairs = [(v, 1.0) if isinstance(v, str) else (v.value, v.weight) for v in self.values]
            path = None
        else:
            path = resolve_input(
                str(self.file), base_dir, allowed=allowed, what=f"file of the axis {name!r}"
            )
            pairs = self._read(name, path)
        values = [v for v, _ in pairs]
        weights = [w for _, w in pairs]
        if isinstance(self.weights, list):
            weights = list(self.weights)
        elif isinstance(self.weights, dict):
            unknown = sorted(set(self.weights) - set(values))
            if unknown:
                raise DataError(
                    f"The axis {name!r} gives weights for values that {path} does not contain: "
                    f"{unknown[:5]}. Fix the names or the file."
                )
            weights = [self.weights.get(v, w) for v, w in zip(values, weights, strict=True)]
        return values, weights

    def _read(self, name: str, path: Path) -> list[tuple[str, float]]:
        jsonl = self.format == "jsonl" or (
            self.format == "auto" and path.suffix.lower() in (".jsonl", ".ndjson")
        )
        if not path.exists():
            raise DataError(
                f"The axis {name!r} reads {path}, which does not exist. Fix the path "
                "(relative paths are resolved against the recipe's folder).",
                path=str(path),
            )
        if not path.is_file():
            raise DataError(
                f"The axis {name!r} reads {path}, which is not a regular file (a folder, a "
                "pipe or a device). Point 'file' at a text file.",
                path=str(path),
            )
        if path.stat().st_size > MAX_AXIS_FILE_BYTES:
            raise DataError(
                f"The axis {name!r} file {path} is larger than "
                f"{MAX_AXIS_FILE_BYTES // 2**20} MiB; an axis is a list of values, not a corpus.",
                path=str(path),
            )
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(
                f"The axis {name!r} cannot read {path}: {exc.strerror}.", path=str(path)
            ) from None
        weights: dict[str, float] = {}  # a value met again adds its weight to the first one
        for number, line_bytes in enumerate(raw.splitlines(), start=1):
            where = f"{path}, line {number}"
            try:
                line = line_bytes.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                raise DataError(f"{where} is not valid UTF-8. Save the file as UTF-8.") from None
            if not line or (not jsonl and line.startswith("#")):
                continue
            value, weight = self._parse_jsonl(line, where) if jsonl else (line, 1.0)
            weights[value] = weights.get(value, 0.0) + weight
        if not weights:
            raise DataError(f"The axis {name!r} file {path} has no values. Add one a line.")
        return list(weights.items())

    def _parse_jsonl(self, line: str, where: str) -> tuple[str, float]:
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where} is not valid JSON ({exc.msg}).") from None
        except (RecursionError, ValueError) as exc:  # too deep, or a number too long to read
            raise DataError(f"{where} cannot be read as JSON ({type(exc).__name__}).") from None
        weight: Any = 1.0
        if isinstance(item, dict):
            if self.field not in item:
                raise DataError(f"{where} has no {self.field!r} key. Add it or set 'field'.")
            weight = item.get("weight", 1.0)
            item = item[self.field]
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise DataError(
                f"{where}: the value must be a non-empty string, got {reprlib.repr(item)}."
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not (math.isfinite(weight) and weight > 0)
        ):
            raise DataError(
                f"{where}: 'weight' must be a positive number, got {reprlib.repr(weight)}."
            )
        return item, float(weight)


def _check_names(axes: dict[str, AxisSpec]) -> dict[str, AxisSpec]:
    for name in axes:
        problem = variable_name_problem(name)
        if problem:
            raise ValueError(f"axis {problem}")
    return axes


#: the recipe type of an ``axes`` mapping: axis name -> spec, names checked as template variables
Axes = Annotated[dict[str, AxisSpec], AfterValidator(_check_names)]


class AxisSampler:
    """Deterministic choice of one value per axis for any job index."""

    def __init__(
        self,
        axes: Mapping[str, AxisSpec | Sequence[str] | str],
        mode: AxisSampling = "cartesian",
        *,
        seed: int = 0,
        base_dir: str | Path = ".",
        allowed: Iterable[str | Path] = (),
        shuffle: bool = True,
    ) -> None:
        if mode not in ("cartesian", "random", "round_robin"):
            raise RecipeError(
                f"Axis sampling {mode!r} is unknown; use cartesian, random or round_robin."
            )
        self.mode = mode
        self.seed = seed
        self.names: tuple[str, ...] = tuple(axes)
        self._values: dict[str, list[str]] = {}
        self._cumulative: dict[str, list[float]] = {}
        self._order: dict[str, list[int]] = {}
        for name, raw in axes.items():
            problem = variable_name_problem(name)
            if problem:
                raise RecipeError(f"The axis {problem}.")
            try:
                spec = raw if isinstance(raw, AxisSpec) else AxisSpec.model_validate(raw)
            except ValidationError as exc:
                raise RecipeError(f"The axis {name!r} is invalid: {exc}") from None
            values, weights = spec.load(name, base_dir, allowed)
            if mode != "random" and len(set(weights)) > 1:
                log.warning("axis %r has weights, which only random sampling uses", name)
            self._values[name] = values
            self._cumulative[name] = list(itertools.accumulate(weights))
            order = list(range(len(values)))
            if shuffle and mode != "random":
                random.Random(f"teachkit-axes:{seed}:{name}").shuffle(order)
            self._order[name] = order
        # cartesian digits: the largest axis varies fastest, so early prefixes are balanced
        self._digits = sorted(self.names, key=lambda n: -len(self._values[n]))

    @property
    def size(self) -> int:
        """Number of distinct combinations (one cartesian cycle)."""
        return math.prod(len(v) for v in self._values.values())

    def axis_values(self, name: str) -> list[str]:
        """The declared values of one axis, in file or list order."""
        return list(self._values[name])

    def values(self, index: int) -> dict[str, str]:
        """The axis values for job ``index`` (the same index always gives the same values)."""
        if index < 0:
            raise ValueError("the job index must be >= 0")
        if self.mode == "random":
            return {name: self._draw(name, index) for name in self.names}
        chosen: dict[str, int] = {}
        if self.mode == "round_robin":
            for name in self.names:
                chosen[name] = index % len(self._values[name])
        else:
            rest, offset = index % self.size, 0
            for name in self._digits:
                rest, digit = divmod(rest, len(self._values[name]))
                # skewing each digit by the faster ones keeps this a bijection on one cycle
                chosen[name] = (digit + offset) % len(self._values[name])
                offset += digit
        return {n: self._values[n][self._order[n][chosen[n]]] for n in self.names}

    def _draw(self, name: str, index: int) -> str:
        digest = hashlib.blake2b(f"{self.seed}:{name}:{index}".encode(), digest_size=8).digest()
        unit = (int.from_bytes(digest, "big") >> 11) * 2.0**-53
        cumulative = self._cumulative[name]
        position = bisect.bisect_right(cumulative, unit * cumulative[-1])
        return self._values[name][min(position, len(cumulative) - 1)]

    def coverage(self, assignments: Iterable[Mapping[str, str]]) -> Coverage:
        """Count the values (and combinations) that ``assignments`` (e.g. ``meta.axes``) used."""
        counts = {name: dict.fromkeys(values, 0) for name, values in self._values.items()}
        declared = {name: frozenset(values) for name, values in self._values.items()}
        combinations: set[tuple[str, ...]] = set()
        for assignment in assignments:
            combo: list[str] = []
            for name in self.names:
                value = assignment.get(name)
                if value is not None:
                    counts[name][value] = counts[name].get(value, 0) + 1
                    if value in declared[name]:
                        combo.append(value)
            if len(combo) == len(self.names):
                combinations.add(tuple(combo))
        return Coverage(
            counts=counts,
            sizes={name: len(values) for name, values in self._values.items()},
            combinations_seen=len(combinations),
            combinations_total=self.size,
        )
