"""Work limits of recipe templates: time, steps, and the size of every value and of the output.

Jinja2's sandbox stops a template from reaching Python internals, but not from working forever or
building a string of gigabytes (``{% for i in range(99999) %}{% for j in range(99999) %}``,
``'a' * 3000000000``). Templates come from shared recipes, so :class:`LimitedEnvironment` bounds
every way a template can do work:

* **steps**: every loop iteration, call, filter, intercepted operator and emitted piece counts
  one step against :attr:`RenderLimits.max_steps`, and the wall clock is checked against
  :attr:`RenderLimits.max_seconds` as steps are taken;
* **values**: an operation whose result would be larger than :attr:`RenderLimits.max_chars`
  characters or hold more than :attr:`RenderLimits.max_items` items is refused *before* it runs
  when its size can be foreseen (``*``, ``**``, ``%``, ``center``, ``replace``, ``join``, ``format``
  and the other filters and string methods that grow text) and checked after it runs otherwise;
  numbers passed to filters and methods (widths, counts) are at most
  :attr:`RenderLimits.max_int_arg`;
* **output**: everything a render emits, in macros and ``{% set %}`` blocks too, counts against
  :attr:`RenderLimits.max_emitted`, and the rendered text is checked while it streams.

The template's syntax tree is rewritten at compile time so that loops, output and ``~``
concatenation go through these checks; ``{% include %}``, ``{% import %}`` and ``{% extends %}``
are refused (a recipe template has no other templates to load). Going past a bound raises
:class:`~teachkit.errors.TemplateLimitError`.
"""

from __future__ import annotations

import functools
import math
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

from teachkit.errors import RecipeError, TemplateLimitError

__all__ = ["LimitedEnvironment", "RenderBudget", "RenderLimits", "guard_tree"]


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
def _size(value: Any, cap: int) -> int:
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


def _too_big(what: str, size: int, limits: RenderLimits) -> TemplateLimitError:
    return TemplateLimitError(
        f"{what} would be {size:,} characters or items long, past the limit of "
        f"{limits.max_chars:,} characters ({limits.max_items:,} items)"
    )


def check_value(value: Any) -> Any:
    """``value`` if it is within the size bounds, else a TemplateLimitError."""
    limits = current_budget().limits
    if isinstance(value, str | bytes) and len(value) > limits.max_chars:
        raise _too_big("a value", len(value), limits)
    if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > limits.max_items:
        raise _too_big("a list", len(value), limits)
    return value


def _ints(args: Iterable[Any], limits: RenderLimits) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limits.max_int_arg:
            raise TemplateLimitError(
                f"the number {str(arg)[:24]} passed to a filter or method is larger than "
                f"{limits.max_int_arg:,}"
            )


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _format_estimate(fmt: str, args: Iterable[Any], limits: RenderLimits, percent: bool) -> int:
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
    largest = max((_size(a, limits.max_chars) for a in args), default=0)
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
    return _size(items, limits.max_chars) + len(items) * len(sep)


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
        len(v) * (1 + _size(_arg(a, k, 0, "table", {}), lim.max_chars))
    ),
    "tojson": lambda v, a, k, lim: (
        _size(v, lim.max_chars) * (2 + _width(_arg(a, k, 0, "indent", 0) or 0))
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
        total += _size(item, limits.max_chars) if isinstance(item, str | bytes) else 1
        gathered.append(item)
        if total > limits.max_chars or len(gathered) > limits.max_items:
            raise _too_big("a sequence", max(total, len(gathered)), limits)
    return gathered


def _foresee(
    name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], method: bool = False
) -> None:
    """Refuse a growing operation whose result is foreseen past the bounds."""
    limits = current_budget().limits
    _ints(args, limits)
    _ints(kwargs.values(), limits)
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
        size = _format_estimate(value, values, limits, percent=False)
    if size > limits.max_chars:
        raise _too_big(f"the result of '{name}'", size, limits)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with the step, argument and result checks."""
    passes = getattr(func, "jinja_pass_arg", None)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        current_budget().tick()
        first = 1 if passes is not None else 0
        if len(args) > first and isinstance(args[first], Iterator):  # a lazy map/select
            args = (*args[:first], bounded_list(args[first]), *args[first + 1 :])
        rest = args[first:]
        value, extra = (rest[0], rest[1:]) if rest else (None, ())
        if name == "format" and isinstance(value, str):
            limits = current_budget().limits
            _ints(extra, limits)
            size = _format_estimate(value, [*extra, *kwargs.values()], limits, percent=True)
            if size > limits.max_chars:
                raise _too_big("the result of 'format'", size, limits)
        else:
            _foresee(name, value, tuple(extra), kwargs)
        return check_value(func(*args, **kwargs))

    return guarded


def _limited_range(*args: int) -> range:
    limits = current_budget().limits
    for arg in args:
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise TemplateLimitError(f"range() takes whole numbers, not {type(arg).__name__}")
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    if step == 0:
        raise TemplateLimitError("range() with a step of 0 never ends")
    length = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)
    if length > limits.max_items:
        raise TemplateLimitError(
            f"range() of {str(length)[:24]} numbers is longer than {limits.max_items:,}"
        )
    return range(*args)


def _limited_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    limits = current_budget().limits
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, min, max)):
        raise RecipeError("lipsum() takes whole numbers: lipsum(n=5, html=True, min=20, max=100)")
    _ints((n, min, max), limits)
    if n * max * 12 > limits.max_chars:
        raise _too_big("lipsum()", n * max * 12, limits)
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def _loop(iterable: Any) -> Iterator[Any]:
    budget = current_budget()
    for item in iterable:
        budget.tick()
        yield item


# pass_context keeps Jinja from evaluating these once at compile time (as constants)
@pass_context
def _emit(context: Any, value: Any) -> Any:
    budget = current_budget()
    budget.tick()
    budget.emitted += len(value) if isinstance(value, str) else 16
    if budget.emitted > budget.limits.max_emitted:
        raise TemplateLimitError(
            f"it produced more than {budget.limits.max_emitted:,} characters of text"
        )
    return value


@pass_context
def _emit_text(context: Any, size: int) -> str:
    """Count ``size`` characters of literal template text; emits nothing itself."""
    budget = current_budget()
    budget.emitted += size
    if budget.emitted > budget.limits.max_emitted:
        raise TemplateLimitError(
            f"it produced more than {budget.limits.max_emitted:,} characters of text"
        )
    return ""


#: internal filters the rewritten tree calls (not meant for recipe authors)
LOOP, EMIT, EMIT_TEXT, VALUE = "__tk_loop", "__tk_emit", "__tk_emit_text", "__tk_value"


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the work limits of this module."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, **options)  # no constant folding at compile time
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters.update({LOOP: _loop, EMIT: _emit, EMIT_TEXT: _emit_text, VALUE: check_value})
        self.globals["range"] = _limited_range
        self.globals["lipsum"] = _limited_lipsum

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        budget.tick()
        limits = budget.limits
        if operator == "*":
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
                size = _size(seq, limits.max_chars) * max(0, times)
                if size > limits.max_chars or len(seq) * max(0, times) > limits.max_items * 10:
                    raise _too_big("a repetition with *", size, limits)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 1_000_000:
                raise TemplateLimitError("a power with ** would have more than 1,000,000 bits")
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else [right]
            if isinstance(right, dict):
                values = list(right.values())
            size = _format_estimate(left, values, limits, percent=True)
            if size > limits.max_chars:
                raise _too_big("a % format", size, limits)
        return check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current_budget().tick()
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        if isinstance(target, types.BuiltinMethodType | types.MethodWrapperType):
            owner = getattr(target, "__self__", None)
            if isinstance(owner, str | bytes | list | tuple | dict | int):
                if args and isinstance(args[0], Iterator):  # "-".join(lazy items)
                    args = (bounded_list(args[0]), *args[1:])
                _foresee(target.__name__, owner, args, kwargs, method=True)
        return check_value(super().call(__context, __obj, *args, **kwargs))


class _Guard(NodeTransformer):
    """Rewrites a template's tree so loops, output and ``~`` pass the checks."""

    def _filter(self, node: nodes.Node, name: str) -> nodes.Filter:
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._filter(node.iter, LOOP)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        pieces: list[nodes.Expr] = []
        static = 0
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):  # literal text: counted once below
                static += len(child.data)
                pieces.append(child)
            else:
                pieces.append(self._filter(child, EMIT))
        if static:
            count = nodes.Const(static, lineno=node.lineno)
            pieces.append(nodes.Filter(count, EMIT_TEXT, [], [], None, None, lineno=node.lineno))
        node.nodes = pieces
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._filter(node, VALUE)

    def _refuse(self, node: nodes.Node) -> nodes.Node:
        words: dict[type[nodes.Node], str] = {nodes.Extends: "extends", nodes.Include: "include"}
        word = words.get(type(node), "import")
        raise RecipeError(
            f"{{% {word} %}} is not available in recipe templates (line {node.lineno}): a recipe "
            "template cannot load other templates. Write the text inline, or use a macro."
        )

    visit_Extends = visit_Include = visit_Import = visit_FromImport = _refuse


def guard_tree(tree: nodes.Template) -> nodes.Template:
    """``tree`` rewritten for :class:`LimitedEnvironment` (a RecipeError for include/import)."""
    result = _Guard().visit(tree)
    assert isinstance(result, nodes.Template)
    return result
