"""The Jinja environment expressions run in: immutable, keys before methods, and bounded.

A run's input, variables and outputs are data the run records, so an expression must not change
them (a replay would compute other values); a JSON key named like a dict method (`items`, `keys`,
`get`) is the key, not the method; and no expression may hold the event loop or the memory for
long: every operation that can cost more than a moment passes through engine.flow.costs, whose
limits keep one evaluation short, so executors render on the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import nodes as jnodes
from jinja2 import pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, modifies_known_mutable
from jinja2.visitor import NodeTransformer

from engine.flow.costs import (
    charge,
    check_binop,
    check_brace_format,
    check_filter,
    check_str_method,
    check_value,
    output,
    step,
)

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
            step()
            return function(*args, **kwargs)
        value = args[offset]
        if name in _CHEAP_FILTERS:
            step()
        elif name in _PER_ITEM_FILTERS and isinstance(value, list | tuple | Mapping | range):
            step(1 + len(value))
        else:
            charge(value)
        if name not in _NO_TEXT_FILTERS:
            check_value(value, f"the value given to the {name} filter")
            check_filter(name, value, args[offset + 1 :], kwargs)
        return function(*args, **kwargs)

    return bounded


@pass_context
def _each(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    """A loop's iterable: each turn counts a step."""
    for item in iterable:
        step()
        yield item


@pass_context
def _concat(context: Context, parts: list[Any]) -> str:
    """`a ~ b`: the joined text is bounded before it is built."""
    step()
    check_value(parts, "the joined string")
    return "".join(map(str, parts))


@pass_context
def _literal(context: Context, text: str) -> str:
    """Literal template text: passing here sends it through `output`, so it counts too."""
    return text


@pass_context
def _compared(context: Context, value: Any) -> Any:
    """Each side of a comparison (`==`, `in`, `<`): charged by its length."""
    charge(value)
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
        super().__init__(finalize=output, **options)
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
        step()
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        step()
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
        step()
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        @functools.wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            check_brace_format(text, args, kwargs)
            return wrapped(*args, **kwargs)

        return bounded

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        charge(owner)
        for argument in args:
            charge(argument)
        if isinstance(owner, str):
            check_str_method(owner, getattr(__obj, "__name__", ""), args)
        return super().call(__context, __obj, *args, **kwargs)
