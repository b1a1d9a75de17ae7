"""The Jinja environment expressions run in: immutable, keys before methods, and bounded.

A run's input, variables and outputs are data the run records, so an expression must not change
them (a replay would compute other values); a JSON key named like a dict method (`items`, `keys`,
`get`) is the key, not the method; and no expression may hold the event loop or the memory for
long. Powers, products, repetition, string building, text output and loop turns are counted
against the limits below for each evaluation, and going over one fails at once, naming the limit.
With these bounds an evaluation is short, so executors render on the event loop.
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import chain
from typing import Any

from jinja2 import nodes as jnodes
from jinja2 import pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, modifies_known_mutable
from jinja2.visitor import NodeTransformer

MAX_TEXT = 10_000_000
"""Characters of any string an expression builds, and of all the text one evaluation outputs."""
MAX_ITEMS = 1_000_000
"""Items of a list or tuple an expression builds with `*` or `+`."""
MAX_INT_BITS = 100_000
"""Bits of an integer a power or a product builds (about 30,000 decimal digits)."""
MAX_STEPS = 500_000
"""Attribute reads, calls, filters, operators, comparisons and loop turns of one evaluation
(some count more, by the length of what they work on)."""
MAX_SECONDS = 1.0
"""Time of one evaluation, a backstop to the steps: executors evaluate on the event loop."""


class ExpressionLimit(Exception):
    """An evaluation went over one of the limits; the message names it."""


class _Budget:
    __slots__ = ("check_at", "deadline", "steps", "text")

    def __init__(self) -> None:
        self.steps = 0
        self.text = 0
        self.check_at = _CLOCK_EVERY
        self.deadline = time.monotonic() + MAX_SECONDS


_CLOCK_EVERY = 2048  # steps between two looks at the clock


_BUDGET: ContextVar[_Budget | None] = ContextVar("expression_budget", default=None)


@contextmanager
def budget() -> Iterator[None]:
    """Count what runs inside against one evaluation's limits (nested uses share the outer)."""
    if _BUDGET.get() is not None:
        yield
        return
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _step(count: int = 1) -> None:
    current = _BUDGET.get()
    if current is None:
        return
    current.steps += count
    if current.steps > MAX_STEPS:
        raise ExpressionLimit(
            f"it takes more than {MAX_STEPS:,} steps (attribute reads, calls, filters, "
            "operators, comparisons and loop turns), the limit of one evaluation"
        )
    if current.steps >= current.check_at:
        current.check_at = current.steps + _CLOCK_EVERY
        if time.monotonic() > current.deadline:
            raise ExpressionLimit(f"it takes more than {MAX_SECONDS:g} s, the limit")


def _charge(value: Any) -> None:
    """A step, and more for work in proportion to a value's length (a search, a comparison or
    a sort of a long list runs in C between two counted steps)."""
    if isinstance(value, str | bytes):
        _step(1 + len(value) // 1000)
    elif isinstance(value, list | tuple | Mapping | set | frozenset | range):
        _step(1 + len(value) // 10)
    else:
        _step()


def size(value: Any, limit: int = MAX_TEXT) -> int:
    """About how many characters `value` takes as text; counting stops once past `limit`. An
    object seen before in the value counts without a second walk: `[[0] * n] * n` is quick."""
    return _walk(value, limit, {})


def _walk(value: Any, room: int, seen: dict[int, tuple[Any, int]]) -> int:
    kind = type(value)
    if kind is str or kind is bytes or isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    known = seen.get(id(value))
    if known is not None:
        return known[1]
    items: Iterable[Any]
    if kind is list or kind is tuple or isinstance(value, list | tuple | set | frozenset):
        items = value
    elif kind is dict or isinstance(value, Mapping):
        items = chain.from_iterable(value.items())
    else:
        return 8
    total = 2 * len(value) + 2
    _step(1 + len(value) // 10)  # the walk below is Python, per item
    for item in items:
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is float or kind is bool or item is None or (kind is int and item < 1 << 64):
            total += 4
        else:
            total += _walk(item, room - total, seen)
        if total > room:
            return total  # partial: over the limit, which is all a caller needs to know
    seen[id(value)] = (value, total)
    return total


def _check_text(length: int, what: str) -> None:
    if length > MAX_TEXT:
        raise ExpressionLimit(f"{what} would be over {MAX_TEXT:,} characters, the limit")


def _check_items(length: int, what: str) -> None:
    if length > MAX_ITEMS:
        raise ExpressionLimit(f"{what} would have over {MAX_ITEMS:,} items, the limit")


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ExpressionLimit(f"{what} would be over {MAX_INT_BITS:,} bits, the limit")


def _check_value(value: Any, what: str) -> None:
    _check_text(size(value), what)


def _output(value: Any) -> Any:
    """Every `{{ }}` and literal chunk of template output passes here: the total is bounded."""
    _step()
    length = size(value)
    current = _BUDGET.get()
    if current is not None:
        current.text += length
        length = current.text
    _check_text(length, "the rendered text")
    return value


# ----------------------------------------------------------------------------------- operators

_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_percent_format(text: str, values: Any) -> None:
    for width, precision in _PERCENT.findall(text):
        for number in (width, precision):
            if number == "*":
                raise ExpressionLimit("a '*' width in a % format is not supported")
            if number:
                _check_text(int(number), "a % format width")
    _check_value(values, "the values of a % format")


def _check_brace_format(text: str, args: Any, kwargs: Any) -> None:
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is not None and spec:
            if "{" in spec:
                raise ExpressionLimit("a nested field in a format spec is not supported")
            for number in _DIGITS.findall(spec):
                _check_text(int(number), "a format width")
    _check_value((args, kwargs), "the values of a format")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and ints and right > 0 and abs(left) > 1:
        _check_bits(abs(left).bit_length() * right, f"{left} ** {right}")
    elif operator == "*" and ints:
        _check_bits(left.bit_length() + right.bit_length(), "the product")
    elif operator == "*" and isinstance(right, int) and not isinstance(left, int):
        _check_repeat(left, right)
    elif operator == "*" and isinstance(left, int):
        _check_repeat(right, left)
    elif operator == "+" and isinstance(left, str) and isinstance(right, str):
        _check_text(len(left) + len(right), "the joined string")
    elif operator == "+" and isinstance(left, list | tuple) and isinstance(right, list | tuple):
        _check_items(len(left) + len(right), "the joined list")
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)


def _check_repeat(sequence: Any, times: int) -> None:
    if isinstance(sequence, str):
        _check_text(len(sequence) * times, f"repeating a string {times:,} times")
    elif isinstance(sequence, list | tuple):
        _check_items(len(sequence) * times, f"repeating a list {times:,} times")


# ------------------------------------------------------------------------ methods and filters


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return 0
    hits = text.count(old) if old else len(text) + 1
    return len(text) + hits * (len(new) - len(old))


def _check_str_method(text: str, name: str, args: tuple[Any, ...]) -> None:
    first = args[0] if args else None
    if name in ("ljust", "rjust", "center", "zfill") and isinstance(first, int):
        _check_text(first, f"{name}({first})")
    elif name == "expandtabs" and isinstance(first, int):
        _check_text(len(text) + text.count("\t") * first, f"expandtabs({first})")
    elif name == "replace" and len(args) >= 2:
        _check_text(_replaced_size(text, args[0], args[1]), "the replaced string")
    elif name == "join" and first is not None:
        _check_value(first, "the joined string")
        if isinstance(first, list | tuple):
            _check_text(len(first) * len(text) + size(first), "the joined string")


def _check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Filters whose output can be much bigger than their input, checked before they run."""
    first = args[0] if args else None
    if name == "center" and isinstance(first, int):
        _check_text(first, f"center({first})")
    elif name == "indent":
        width = kwargs.get("width", first if first is not None else 4)
        unit = width if isinstance(width, int) else len(str(width))
        lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
        _check_text(size(value) + lines * unit, "the indented text")
    elif name == "format" and isinstance(value, str):
        _check_percent_format(value, (args, kwargs))
    elif name == "replace" and len(args) >= 2:
        _check_text(_replaced_size(value, args[0], args[1]), "the replaced text")
    elif name == "join" and isinstance(value, list | tuple):
        separator = args[0] if args else kwargs.get("d", "")
        _check_text(size(value) + len(value) * len(str(separator)), "the joined text")
    elif name == "wordwrap" and isinstance(value, str):
        width = first if isinstance(first, int) and first > 0 else 79
        wrap = str(args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n")
        _check_text(len(value) + (len(value) // width + 1) * len(wrap), "the wrapped text")


# Filters that never turn their value into text, by what one call costs: O(1), or a Python
# call per item (a key function, a test, a lookup). Every other filter may turn its value into
# text (`upper` of a list does), so its value's size as text is checked first.
_CHEAP_FILTERS = frozenset({"length", "count", "first", "last", "default", "d", "attr", "abs"})
_PER_ITEM_FILTERS = frozenset(
    {"sort", "unique", "map", "select", "reject", "selectattr", "rejectattr", "groupby"}
    | {"dictsort", "batch", "slice", "items", "sum", "min", "max", "list", "reverse"}
)
_NO_TEXT_FILTERS = _CHEAP_FILTERS | _PER_ITEM_FILTERS | {"int", "float", "round", "bool"}


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    offset = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if len(args) <= offset:
            _step()
            return function(*args, **kwargs)
        value = args[offset]
        if name in _CHEAP_FILTERS:
            _step()
        elif name in _PER_ITEM_FILTERS and isinstance(value, list | tuple | Mapping | range):
            _step(1 + len(value))
        else:
            _charge(value)
        if name not in _NO_TEXT_FILTERS:
            _check_value(value, f"the value given to the {name} filter")
            _check_filter(name, value, args[offset + 1 :], kwargs)
        return function(*args, **kwargs)

    return bounded


@pass_context
def _each(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    """A loop's iterable: each turn counts a step."""
    for item in iterable:
        _step()
        yield item


@pass_context
def _concat(context: Context, parts: list[Any]) -> str:
    """`a ~ b`: the joined text is bounded before it is built."""
    _step()
    _check_value(parts, "the joined string")
    return "".join(map(str, parts))


@pass_context
def _literal(context: Context, text: str) -> str:
    return text


@pass_context
def _compared(context: Context, value: Any) -> Any:
    """Each side of a comparison (`==`, `in`, `<`): charged by its length."""
    _charge(value)
    return value


def _charged(node: jnodes.Expr) -> jnodes.Expr:
    return jnodes.Filter(node, "_compared", [], [], None, None, lineno=node.lineno)


class _Bounds(NodeTransformer):
    """Routes loop turns, `~` and literal output through the counting filters above."""

    def visit_For(self, node: jnodes.For) -> jnodes.For:
        self.generic_visit(node)
        node.iter = jnodes.Filter(node.iter, "_each", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: jnodes.Concat) -> jnodes.Filter:
        self.generic_visit(node)
        parts = jnodes.List(node.nodes, lineno=node.lineno)
        return jnodes.Filter(parts, "_concat", [], [], None, None, lineno=node.lineno)

    def visit_Compare(self, node: jnodes.Compare) -> jnodes.Compare:
        self.generic_visit(node)
        node.expr = _charged(node.expr)
        for operand in node.ops:
            operand.expr = _charged(operand.expr)
        return node

    def visit_Output(self, node: jnodes.Output) -> jnodes.Output:
        self.generic_visit(node)
        node.nodes = [
            jnodes.Filter(n, "_literal", [], [], None, None, lineno=n.lineno)
            if isinstance(n, jnodes.TemplateData)
            else n
            for n in node.nodes
        ]
        return node


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox of every expression and template (see the module docstring)."""

    intercepted_binops = frozenset({"**", "*", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_output, **options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.filters.update(_each=_each, _concat=_concat, _literal=_literal, _compared=_compared)

    def add_filter(self, name: str, function: Callable[..., Any]) -> None:
        """Add a filter, counted and checked like Jinja's own."""
        self.filters[name] = _bounded_filter(name, function)

    def _generate(self, source: jnodes.Template, *args: Any, **kwargs: Any) -> str:
        tree = _Bounds().visit(source)
        tree.set_environment(self)
        return str(super()._generate(tree, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        """For a mapping a key wins over a method: `input.items` is the input's `items`."""
        _step()
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _step()
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        if not modifies_known_mutable(obj, attribute):
            return super().unsafe_undefined(obj, attribute)
        return self.undefined(
            f"'{attribute}' would change a {type(obj).__name__}, and expressions cannot change "
            "the run's data (a set_variables action sets variables)",
            name=attribute,
            obj=obj,
            exc=SecurityError,
        )

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _step()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        @functools.wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_brace_format(text, args, kwargs)
            return wrapped(*args, **kwargs)

        return bounded

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        _charge(owner)
        for argument in args:
            _charge(argument)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(__obj, "__name__", ""), args)
        return super().call(__context, __obj, *args, **kwargs)
