"""Expressions (docs/flows.md §2): Jinja2 in a sandbox.

A template that is exactly one `{{ expr }}` yields the expression's native value; any other
template yields text. Expression fields hold a bare expression without braces. Names in scope:
`input`, `vars`, `nodes`, `run`, `error`; nothing else (no environment, files, or secrets).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta
from jinja2 import nodes as jnodes
from jinja2.exceptions import SecurityError

from engine.flow.bounded import BoundedEnvironment
from engine.flow.costs import MAX_TEXT, ExpressionLimit, budget, size
from engine.nodes.spec import CheckedValue, NodeSpec

Kind = Literal["template", "expression"]
_SINGLE = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)

# Paths with simple filters (`nodes['ask'].text | default('')`), compared, combined and negated
# (`input.n > 2 and not vars.done`), are most of what flows contain. A regular subset of Jinja's
# expression grammar recognises them ~10x faster than Jinja's parser; whatever it accepts Jinja
# parses too (a property test checks both that and the references found), the rest goes to Jinja.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INT = r"(?:0|[1-9][0-9]*)"
_NUMBER = rf"{_INT}(?:\.[0-9]+)?"
_STRING = r"""(?:'[^'\\{}]*'|"[^"\\{}]*")"""
_CONSTANT = rf"(?:{_STRING}|-?{_NUMBER}|true|false|none|True|False|None)"
_KEY = rf"\[\s*(?:{_INT}|{_STRING})\s*\]"
_SLICE = rf"\[\s*(?:-?{_INT}\s*)?:\s*(?:-?{_INT}\s*)?\]"
_FILTER = rf"\s*\|\s*{_NAME}(?:\(\s*(?:{_CONSTANT}(?:\s*,\s*{_CONSTANT})*)?\s*\))?"
_OPERAND = (
    rf"(?:[-+]\s*)*(?:(?:input|vars|nodes|run|error)(?:\.{_NAME}|{_KEY}|{_SLICE})*"
    rf"|{_NUMBER}|{_STRING}|true|false|none|True|False|None)(?:{_FILTER})*"
)
_BINARY = r"(?:\s*(?:\*\*|//|==|!=|>=|<=|[-+*/%~<>])\s*|\s+(?:not\s+)?in\s+)"
_CONDITION = rf"(?:not\s+)*{_OPERAND}(?:{_BINARY}{_OPERAND})*"
_SIMPLE = re.compile(rf"\s*{_CONDITION}(?:\s+(?:and|or)\s+{_CONDITION})*\s*")
# Left to right over an accepted field: strings, filter names and attributes are skipped whole,
# so only real `nodes.X`, `vars['X']` and `error` names are seen.
_REFERENCE = re.compile(
    rf"{_STRING}|\|\s*{_NAME}|\.{_NAME}"
    rf"|(?P<base>nodes|vars|error)(?:\.(?P<attr>{_NAME})|\[\s*(?P<key>{_STRING})\s*\])?"
)
_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class ExpressionError(ValueError):
    """An expression that does not parse or cannot be evaluated; the message says why."""


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _environment() -> BoundedEnvironment:
    env = BoundedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    # Replay must compute the same values: nothing random.
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    env.add_filter("tojson", _tojson)
    env.add_filter("fromjson", json.loads)
    return env


ENV = _environment()


class References(NamedTuple):
    """The `nodes.X` and `vars.X` names a field refers to (a tuple: validating a big flow makes
    one per field, and a frozen dataclass takes several times longer to make)."""

    nodes: frozenset[str] = frozenset()
    vars: frozenset[str] = frozenset()
    error: bool = False


_UNPARSED = References()
"""What `references` returns for a field that does not parse (`syntax_error` says why)."""


def is_template(text: str) -> bool:
    """Whether a string has any Jinja syntax at all (plain text needs no parsing)."""
    return "{{" in text or "{%" in text or "{#" in text


def _syntax_message(exc: TemplateSyntaxError, kind: Kind) -> str:
    where = f"line {exc.lineno}: " if kind == "template" and exc.lineno > 1 else ""
    return f"{where}{exc.message}"


@lru_cache(maxsize=8192)
def _simple_references(text: str, kind: Kind) -> References | None:
    """References of a field in the fast path's subset of Jinja, or None if it needs Jinja."""
    if kind == "expression":
        parts = [text]
    else:
        if "{%" in text or "{#" in text or "{{" in _OUTPUT.sub("", text):
            return None
        parts = _OUTPUT.findall(text)
    found: dict[str, set[str]] = {"nodes": set(), "vars": set()}
    uses_error = False
    for part in parts:
        # `{{-`, `{{+` and `-}}` are Jinja's whitespace control, not operators.
        if _SIMPLE.fullmatch(part) is None or (kind == "template" and _controls_whitespace(part)):
            return None
        for match in _REFERENCE.finditer(part):
            base, attr, key = match.group("base", "attr", "key")
            uses_error = uses_error or base == "error"
            if base in found and (attr or key):
                found[base].add(attr or key[1:-1])
    return References(frozenset(found["nodes"]), frozenset(found["vars"]), uses_error)


def _controls_whitespace(part: str) -> bool:
    return part[:1] in ("-", "+") or part.endswith("-")


@lru_cache(maxsize=8192)
def _parse(text: str, kind: Kind) -> jnodes.Template | str:
    """The Jinja AST of a field, or the syntax error message."""
    source = text if kind == "template" else "{{ (" + text + ") }}"
    if kind == "expression" and not text.strip():
        return "the expression is empty"
    try:
        return ENV.parse(source)
    except TemplateSyntaxError as exc:
        return _syntax_message(exc, kind)


def syntax_error(text: str, kind: Kind) -> str | None:
    """None if the field parses, else what is wrong."""
    if kind == "template" and not is_template(text):
        return None
    if references(text, kind) is not _UNPARSED:
        return None
    parsed = _parse(text, kind)
    return parsed if isinstance(parsed, str) else None


@lru_cache(maxsize=8192)
def references(text: str, kind: Kind) -> References:
    """Which `nodes.X` and `vars.X` a field refers to, and whether it uses `error`."""
    if kind == "template" and not is_template(text):
        return References()
    simple = _simple_references(text, kind)
    if simple is not None:
        return simple
    parsed = _parse(text, kind)
    if isinstance(parsed, str):
        return _UNPARSED
    found: dict[str, set[str]] = {"nodes": set(), "vars": set()}
    for node in parsed.find_all(jnodes.Getattr):
        if isinstance(node.node, jnodes.Name) and node.node.name in found:
            found[node.node.name].add(node.attr)
    for item in parsed.find_all(jnodes.Getitem):
        key = item.arg
        if (
            isinstance(item.node, jnodes.Name)
            and item.node.name in found
            and isinstance(key, jnodes.Const)
            and isinstance(key.value, str)
        ):
            found[item.node.name].add(key.value)
    uses_error = any(n.name == "error" for n in parsed.find_all(jnodes.Name))
    return References(frozenset(found["nodes"]), frozenset(found["vars"]), uses_error)


SCOPE_NAMES = frozenset({"input", "vars", "nodes", "run", "error"})
"""The names a run gives every expression (docs/flows.md §2)."""
_CHANGING = frozenset(
    {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "sort", "reverse"}
    | {"update", "setdefault", "add", "discard", "difference_update"}
    | {"intersection_update", "symmetric_difference_update"}
)
"""Methods that change a list, dict or set: no data an expression sees allows them."""


_DICT_VIEWS = {"items": "| items", "keys": "| list", "values": "| items | map(attribute=1)"}
"""Dict methods named like common JSON keys (on data, a key of that name wins over them), and
the filters that do the same whatever the keys."""


class Problem(NamedTuple):
    """Something in a field that will fail when it runs (or may: a warning): a validation issue."""

    code: str
    message: str
    severity: Literal["error", "warning"] = "error"


def _data_path(node: jnodes.Node) -> str | None:
    """`input.a.b` for an attribute chain on a scope name, else None."""
    names: list[str] = []
    while isinstance(node, jnodes.Getattr):
        names.append(node.attr)
        node = node.node
    if isinstance(node, jnodes.Name) and node.name in SCOPE_NAMES:
        return ".".join([node.name, *reversed(names)])
    return None


@lru_cache(maxsize=8192)
def problems(text: str, kind: Kind) -> tuple[Problem, ...]:
    """What will certainly fail in a field: a syntax error, a name not in scope (`item` for
    `vars.item`), or a call of a method that would change data (`vars.list.append(1)`)."""
    if kind == "template" and not is_template(text):
        return ()
    if _simple_references(text, kind) is not None:
        return ()  # the fast path accepts only scope names and no calls
    parsed = _parse(text, kind)
    if isinstance(parsed, str):
        return (Problem("expr.syntax", parsed),)
    found = [
        Problem(
            "expr.unknown_name",
            f"'{name}' is not a name expressions know (they know input, vars, nodes, run "
            f"and error; a variable or a loop's item is vars.{name})",
        )
        for name in sorted(meta.find_undeclared_variables(parsed) - SCOPE_NAMES - set(ENV.globals))
    ]
    for call in parsed.find_all(jnodes.Call):
        if not isinstance(call.node, jnodes.Getattr):
            continue
        method, path = call.node.attr, _data_path(call.node)
        if method in _CHANGING:
            found.append(
                Problem(
                    "expr.changes_data",
                    f"'.{method}(...)' would change data, and expressions cannot "
                    "(a set_variables action sets variables)",
                )
            )
        elif method in _DICT_VIEWS and path is not None:
            found.append(
                Problem(
                    "expr.method_on_data",
                    f"'{path}()' calls the dict method only while the data has no key "
                    f"'{method}' (a key wins, and data cannot be called): write "
                    f"'{path.rpartition('.')[0]} {_DICT_VIEWS[method]}'",
                    "warning",
                )
            )
    return tuple(found)


@lru_cache(maxsize=8192)
def _compiled_expression(text: str) -> Callable[..., Any]:
    try:
        return ENV.compile_expression(text, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not parse: {exc.message}") from None


@lru_cache(maxsize=8192)
def _template(text: str) -> Any:
    return ENV.from_string(text)


@lru_cache(maxsize=8192)
def _single_expression(text: str) -> str | None:
    """The inner expression if the template is exactly one `{{ expr }}`, else None."""
    match = _SINGLE.match(text)
    if match is None:
        return None
    inner = match.group("expr")
    try:
        ENV.compile_expression(inner)
    except TemplateSyntaxError:
        return None
    return inner


def _checked(value: Any) -> Any:
    if isinstance(value, Undefined):
        raise ExpressionError(value._undefined_message)
    if size(value) > MAX_TEXT:
        raise ExpressionLimit(f"its value would be over {MAX_TEXT:,} characters, the limit")
    return value


def _named(text: str, message: str) -> ExpressionError:
    """An error that names the expression, clipped so a long template stays readable."""
    text = text.strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ExpressionError(f"{shown!r}: {message}")


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate a bare expression to its native value."""
    function = _compiled_expression(text)
    try:
        with budget():
            return _checked(function(**scope))
    except (UndefinedError, SecurityError, ExpressionLimit) as exc:
        raise _named(text, str(exc)) from None
    except ExpressionError as exc:
        raise _named(text, str(exc)) from None
    except Exception as exc:
        raise _named(text, f"{type(exc).__name__}: {exc}") from None


def render(text: str, scope: Mapping[str, Any]) -> Any:
    """Render a template: text, or the native value of a single `{{ expr }}`."""
    if not is_template(text):
        return text
    inner = _single_expression(text)
    if inner is not None:
        return evaluate(inner, scope)
    parsed = _parse(text, "template")
    if isinstance(parsed, str):
        raise ExpressionError(f"does not parse: {parsed}")
    try:
        with budget():
            return _template(text).render(**scope)
    except (UndefinedError, SecurityError, ExpressionLimit) as exc:
        raise _named(text, str(exc)) from None
    except Exception as exc:
        raise _named(text, f"{type(exc).__name__}: {exc}") from None


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON value (objects and lists are walked); one evaluation's
    limits cover the whole value."""
    with budget():
        return _render_value(value, scope)


def _render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, scope)
    if isinstance(value, Mapping):
        return {k: _render_value(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, scope) for v in value]
    return value


def iter_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value with its path (`arguments.query`, `cases[1].when`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")


def config_strings(spec: NodeSpec, config: Mapping[str, Any]) -> Iterator[tuple[str, Kind, str]]:
    """Every template string and bare expression of a node's raw config: (path, kind, text)."""
    return field_strings(spec.checked_values(config))


def field_strings(values: Iterable[CheckedValue]) -> Iterator[tuple[str, Kind, str]]:
    """The template strings and bare expressions among a config's checked values."""
    for path, checked, value in values:
        if checked.kind == "expression":
            if isinstance(value, str):
                yield path, "expression", value
        elif checked.kind == "template":
            for string_path, text in iter_strings(value, path):
                yield string_path, "template", text
