"""What one evaluation of an expression may cost, and the checks that hold it there.

Limits are counted per evaluation (`budget`): steps (attribute reads, calls, filters, operators,
comparisons, loop turns; work in C on a long value counts by its length), the size of strings,
lists and integers an operation would build, checked before it builds them, the text rendered,
and a clock as a backstop. Going over one raises ExpressionLimit, naming it.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from itertools import chain
from typing import Any

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


class budget:
    """Count what runs inside against one evaluation's limits (nested uses share the outer).
    A class, not a generator: every render enters one, so it must cost next to nothing."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = None if _BUDGET.get() is not None else _BUDGET.set(_Budget())

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _BUDGET.reset(self._token)


def step(count: int = 1) -> None:
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


def charge(value: Any) -> None:
    """A step, and more for work in proportion to a value's length (a search, a comparison or
    a sort of a long list runs in C between two counted steps)."""
    if isinstance(value, str | bytes):
        step(1 + len(value) // 1000)
    elif isinstance(value, list | tuple | Mapping | set | frozenset | range):
        step(1 + len(value) // 10)
    else:
        step()


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
    step(1 + len(value) // 10)  # the walk below is Python, per item
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


def check_text(length: int, what: str) -> None:
    if length > MAX_TEXT:
        raise ExpressionLimit(f"{what} would be over {MAX_TEXT:,} characters, the limit")


def check_items(length: int, what: str) -> None:
    if length > MAX_ITEMS:
        raise ExpressionLimit(f"{what} would have over {MAX_ITEMS:,} items, the limit")


def check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ExpressionLimit(f"{what} would be over {MAX_INT_BITS:,} bits, the limit")


def check_value(value: Any, what: str) -> None:
    check_text(size(value), what)


def output(value: Any) -> Any:
    """Every `{{ }}` and literal chunk of template output passes here: the total is bounded."""
    step()
    length = size(value)
    current = _BUDGET.get()
    if current is not None:
        current.text += length
        length = current.text
    check_text(length, "the rendered text")
    return value


# ----------------------------------------------------------------------------------- operators

_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def check_percent_format(text: str, values: Any) -> None:
    for width, precision in _PERCENT.findall(text):
        for number in (width, precision):
            if number == "*":
                raise ExpressionLimit("a '*' width in a % format is not supported")
            if number:
                check_text(int(number), "a % format width")
    check_value(values, "the values of a % format")


def check_brace_format(text: str, args: Any, kwargs: Any) -> None:
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is not None and spec:
            if "{" in spec:
                raise ExpressionLimit("a nested field in a format spec is not supported")
            for number in _DIGITS.findall(spec):
                check_text(int(number), "a format width")
    check_value((args, kwargs), "the values of a format")


def check_binop(operator: str, left: Any, right: Any) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and ints and right > 0 and abs(left) > 1:
        check_bits(abs(left).bit_length() * right, f"{left} ** {right}")
    elif operator == "*" and ints:
        check_bits(left.bit_length() + right.bit_length(), "the product")
    elif operator == "*" and isinstance(right, int) and not isinstance(left, int):
        _check_repeat(left, right)
    elif operator == "*" and isinstance(left, int):
        _check_repeat(right, left)
    elif operator == "+" and isinstance(left, str) and isinstance(right, str):
        check_text(len(left) + len(right), "the joined string")
    elif operator == "+" and isinstance(left, list | tuple) and isinstance(right, list | tuple):
        check_items(len(left) + len(right), "the joined list")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


def _check_repeat(sequence: Any, times: int) -> None:
    if isinstance(sequence, str):
        check_text(len(sequence) * times, f"repeating a string {times:,} times")
    elif isinstance(sequence, list | tuple):
        check_items(len(sequence) * times, f"repeating a list {times:,} times")


# ------------------------------------------------------------------------ methods and filters


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    if not isinstance(text, str) or not isinstance(old, str) or not isinstance(new, str):
        return 0
    hits = text.count(old) if old else len(text) + 1
    return len(text) + hits * (len(new) - len(old))


def check_str_method(text: str, name: str, args: tuple[Any, ...]) -> None:
    first = args[0] if args else None
    if name in ("ljust", "rjust", "center", "zfill") and isinstance(first, int):
        check_text(first, f"{name}({first})")
    elif name == "expandtabs" and isinstance(first, int):
        check_text(len(text) + text.count("\t") * first, f"expandtabs({first})")
    elif name == "replace" and len(args) >= 2:
        check_text(_replaced_size(text, args[0], args[1]), "the replaced string")
    elif name == "join" and first is not None:
        check_value(first, "the joined string")
        if isinstance(first, list | tuple):
            check_text(len(first) * len(text) + size(first), "the joined string")


_FILTER_PARAMETERS = {
    "center": ("width",),
    "indent": ("width",),
    "replace": ("old", "new"),
    "join": ("d",),
    "wordwrap": ("width", "break_long_words", "wrapstring"),
}


def check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Filters whose output can be much bigger than their input, checked before they run."""
    names = _FILTER_PARAMETERS.get(name, ())
    given = [args[i] if i < len(args) else kwargs.get(key) for i, key in enumerate(names)]
    if name == "center" and isinstance(given[0], int):
        check_text(given[0], f"center({given[0]})")
    elif name == "indent":
        width = 4 if given[0] is None else given[0]
        unit = width if isinstance(width, int) else len(str(width))
        lines = value.count("\n") + 1 if isinstance(value, str) else 1
        check_text(size(value) + lines * unit, "the indented text")
    elif name == "format" and isinstance(value, str):
        check_percent_format(value, (args, kwargs))
    elif name == "replace":
        check_text(_replaced_size(value, given[0], given[1]), "the replaced text")
    elif name == "join" and isinstance(value, list | tuple):
        separator = "" if given[0] is None else str(given[0])
        check_text(size(value) + len(value) * len(separator), "the joined text")
    elif name == "wordwrap" and isinstance(value, str):
        width = given[0] if isinstance(given[0], int) and given[0] > 0 else 79
        wrap = str(given[2] or "\n")
        check_text(len(value) + (len(value) // width + 1) * len(wrap), "the wrapped text")
