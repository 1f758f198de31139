"""A render's work budget (steps, time, output), and size estimates that refuse growth in advance.

:class:`RenderLimits` are a recipe's bounds; :class:`RenderBudget` counts one render's steps and
output against them; the estimators foresee the size of an operation's result (``*``, ``%``,
``join``, ``format``, ...) so it is refused before it runs (see :mod:`teachkit.prompts.limits`).
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from teachkit.errors import TemplateLimitError

__all__ = [
    "Estimator",
    "RenderBudget",
    "RenderLimits",
    "bounded_list",
    "check_ints",
    "check_value",
    "current_budget",
    "end_render",
    "foresee",
    "format_estimate",
    "start_render",
    "too_big",
    "value_size",
]


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """The bounds of one render (documented in docs/security.md)."""

    max_steps: int = 1_000_000
    max_seconds: float = 2.0
    max_chars: int = 1_000_000
    max_emitted: int = 4_000_000
    max_items: int = 100_000
    max_int_arg: int = 100_000


class RenderBudget:
    """What one render has used so far."""

    __slots__ = ("deadline", "emitted", "limits", "steps")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.emitted = 0
        self.deadline = time.monotonic() + limits.max_seconds

    def tick(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > self.limits.max_steps:
            raise TemplateLimitError(
                f"it took more than {self.limits.max_steps:,} steps (loop iterations, calls, "
                "filters); loop over less"
            )
        if self.steps & 255 == 0 and time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"it ran longer than {self.limits.max_seconds:g} s; loop over less"
            )


#: the budget of the render under way (compile-time evaluation gets a fresh one)
_BUDGET: ContextVar[RenderBudget | None] = ContextVar("teachkit_render_budget", default=None)
_DEFAULT = RenderLimits()


def current_budget() -> RenderBudget:
    budget = _BUDGET.get()
    if budget is None:  # outside a render (e.g. a test calling a filter): a budget of its own
        budget = RenderBudget(_DEFAULT)
        _BUDGET.set(budget)
    return budget


def start_render(limits: RenderLimits) -> Any:
    """Begin a render's budget; pass the token to :func:`end_render`."""
    return _BUDGET.set(RenderBudget(limits))


def end_render(token: Any) -> None:
    _BUDGET.reset(token)


# --- sizes --------------------------------------------------------------------------------------
def value_size(value: Any, cap: int) -> int:
    """Characters ``value`` stands for (strings; items of containers, shallowly), stopping at
    ``cap`` so that measuring is bounded too."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        total = len(value)
        for item in value:
            total += len(item) if isinstance(item, str | bytes) else 8
            if total > cap:
                return total
        return total
    return 24


def too_big(what: str, size: int, limits: RenderLimits) -> TemplateLimitError:
    return TemplateLimitError(
        f"{what} would be {size:,} characters or items long, past the limit of "
        f"{limits.max_chars:,} characters ({limits.max_items:,} items)"
    )


def check_value(value: Any) -> Any:
    """``value`` if it is within the size bounds, else a TemplateLimitError."""
    limits = current_budget().limits
    if isinstance(value, str | bytes) and len(value) > limits.max_chars:
        raise too_big("a value", len(value), limits)
    if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > limits.max_items:
        raise too_big("a list", len(value), limits)
    return value


def check_ints(args: Iterable[Any], limits: RenderLimits) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limits.max_int_arg:
            raise TemplateLimitError(
                f"the number {str(arg)[:24]} passed to a filter or method is larger than "
                f"{limits.max_int_arg:,}"
            )


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def format_estimate(fmt: str, args: Iterable[Any], limits: RenderLimits, percent: bool) -> int:
    """An upper bound of the length of ``fmt`` formatted with ``args`` (``%`` or ``{}``)."""
    widths: list[int] = []
    fields = 0
    args = list(args)
    if percent:
        for match in _PERCENT.finditer(fmt):
            fields += 1
            widths += [int(g) for g in match.groups() if g and g != "*"]
            if "*" in match.groups():  # a width or precision taken from the arguments
                widths += [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    else:
        for _, field, spec, _ in string.Formatter().parse(fmt):
            if field is not None:
                fields += 1
                widths += [int(d) for d in re.findall(r"\d+", spec or "")]
    widest = max(widths, default=0)
    if widest > limits.max_int_arg:
        raise TemplateLimitError(
            f"a format width of {widest:,} is larger than {limits.max_int_arg:,}"
        )
    largest = max((value_size(a, limits.max_chars) for a in args), default=0)
    return len(fmt) + fields * (widest + largest)


def _width(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else len(str(value))


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _replace(text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    old, new = str(_arg(args, kwargs, 0, "old", "")), str(_arg(args, kwargs, 1, "new", ""))
    count = _arg(args, kwargs, 2, "count", -1)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _join(items: Any, sep: str, limits: RenderLimits) -> int:
    if not isinstance(items, list | tuple | set | frozenset | dict | str):
        return 0  # an iterator: measured by the post-check
    return value_size(items, limits.max_chars) + len(items) * len(sep)


#: name -> (value, args, kwargs, limits) -> foreseen length of the result, for what grows text
Estimator = Callable[[Any, tuple[Any, ...], dict[str, Any], RenderLimits], int]
_GROWING: dict[str, Estimator] = {
    "center": lambda v, a, k, lim: max(len(str(v)), _width(_arg(a, k, 0, "width", 80))),
    "ljust": lambda v, a, k, lim: max(len(v), _width(_arg(a, k, 0, "width", 0))),
    "rjust": lambda v, a, k, lim: max(len(v), _width(_arg(a, k, 0, "width", 0))),
    "zfill": lambda v, a, k, lim: max(len(v), _width(_arg(a, k, 0, "width", 0))),
    "expandtabs": lambda v, a, k, lim: (
        len(v)
        + v.count("\t" if isinstance(v, str) else b"\t") * _width(_arg(a, k, 0, "tabsize", 8))
    ),
    "replace": lambda v, a, k, lim: _replace(str(v), a, k),
    "indent": lambda v, a, k, lim: (
        len(str(v)) + (str(v).count("\n") + 1) * _width(_arg(a, k, 0, "width", 4))
    ),
    "wordwrap": lambda v, a, k, lim: (
        len(str(v))
        + (len(str(v)) // max(1, _width(_arg(a, k, 0, "width", 79))) + 1)
        * len(str(_arg(a, k, 2, "wrapstring", None) or "\n"))
    ),
    "urlize": lambda v, a, k, lim: (
        3 * len(str(v))
        + (len(str(v)) // 4 + 1)
        * (40 + len(str(k.get("target") or "")) + len(str(k.get("rel") or "")))
    ),
    "translate": lambda v, a, k, lim: (
        len(v) * (1 + value_size(_arg(a, k, 0, "table", {}), lim.max_chars))
    ),
    "tojson": lambda v, a, k, lim: (
        value_size(v, lim.max_chars) * (2 + _width(_arg(a, k, 0, "indent", 0) or 0))
    ),
}


def bounded_list(items: Iterator[Any]) -> list[Any]:
    """An iterator's items (e.g. from ``map``), refusing past the value bounds while reading,
    so a lazy sequence of large values cannot be gathered into an unbounded list."""
    budget = current_budget()
    limits = budget.limits
    gathered: list[Any] = []
    total = 0
    for item in items:
        budget.tick()
        total += value_size(item, limits.max_chars) if isinstance(item, str | bytes) else 1
        gathered.append(item)
        if total > limits.max_chars or len(gathered) > limits.max_items:
            raise too_big("a sequence", max(total, len(gathered)), limits)
    return gathered


def foresee(
    name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], method: bool = False
) -> None:
    """Refuse a growing operation whose result is foreseen past the bounds."""
    limits = current_budget().limits
    check_ints(args, limits)
    check_ints(kwargs.values(), limits)
    estimate = _GROWING.get(name)
    size = 0
    if estimate is not None:
        size = estimate(value, args, kwargs, limits)
    elif name == "join" and method:  # sep.join(items)
        size = _join(args[0] if args else (), str(value), limits)
    elif name == "join":  # items|join(sep)
        size = _join(value, str(_arg(args, kwargs, 0, "d", "")), limits)
    elif name in ("format", "format_map") and isinstance(value, str):
        values = list(args) + list(kwargs.values())
        if name == "format_map" and args and isinstance(args[0], dict):
            values = list(args[0].values())
        size = format_estimate(value, values, limits, percent=False)
    if size > limits.max_chars:
        raise too_big(f"the result of '{name}'", size, limits)
