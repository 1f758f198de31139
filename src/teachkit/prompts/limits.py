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
import types
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

from teachkit.errors import RecipeError, TemplateLimitError
from teachkit.prompts.budget import (
    RenderBudget,
    RenderLimits,
    bounded_list,
    check_ints,
    check_value,
    current_budget,
    foresee,
    format_estimate,
    too_big,
    value_size,
)

__all__ = ["LimitedEnvironment", "RenderBudget", "RenderLimits", "guard_tree"]


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
            check_ints(extra, limits)
            size = format_estimate(value, [*extra, *kwargs.values()], limits, percent=True)
            if size > limits.max_chars:
                raise too_big("the result of 'format'", size, limits)
        else:
            foresee(name, value, tuple(extra), kwargs)
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
    check_ints((n, min, max), limits)
    if n * max * 12 > limits.max_chars:
        raise too_big("lipsum()", n * max * 12, limits)
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
                size = value_size(seq, limits.max_chars) * max(0, times)
                if size > limits.max_chars or len(seq) * max(0, times) > limits.max_items * 10:
                    raise too_big("a repetition with *", size, limits)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 1_000_000:
                raise TemplateLimitError("a power with ** would have more than 1,000,000 bits")
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else [right]
            if isinstance(right, dict):
                values = list(right.values())
            size = format_estimate(left, values, limits, percent=True)
            if size > limits.max_chars:
                raise too_big("a % format", size, limits)
        return check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current_budget().tick()
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        if isinstance(target, types.BuiltinMethodType | types.MethodWrapperType):
            owner = getattr(target, "__self__", None)
            if isinstance(owner, str | bytes | list | tuple | dict | int):
                if args and isinstance(args[0], Iterator):  # "-".join(lazy items)
                    args = (bounded_list(args[0]), *args[1:])
                foresee(target.__name__, owner, args, kwargs, method=True)
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
