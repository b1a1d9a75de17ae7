"""Expressions (NODES.md §2): Jinja2 in a sandbox.

A template that is exactly one `{{ expr }}` yields the expression's native value; any other
template yields text. Expression fields hold a bare expression without braces. Names in scope:
`input`, `vars`, `nodes`, `run`, `error`; nothing else (no environment, files, or secrets).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError
from jinja2 import nodes as jnodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from engine.nodes.spec import NodeSpec, values_at

Kind = Literal["template", "expression"]
_SINGLE = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")

# Plain paths with optional simple filters (`nodes['ask'].text | default('')`) are most of what
# flows contain; recognising them with one regex is ~20x faster than Jinja's parser, and a
# property test checks that the shortcut agrees with the parser.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r"""(?:'[^'\\{}]*'|"[^"\\{}]*")"""
_KEY = rf"\[\s*(?:\d+|{_STRING})\s*\]"
_ARG = rf"(?:{_STRING}|-?\d+(?:\.\d+)?)"
_FILTER = rf"\s*\|\s*{_NAME}(?:\(\s*(?:{_ARG}(?:\s*,\s*{_ARG})*)?\s*\))?"
_SIMPLE = re.compile(
    rf"^\s*(?P<base>input|vars|nodes|run|error)(?P<first>\.{_NAME}|{_KEY})?"
    rf"(?:\.{_NAME}|{_KEY})*(?:{_FILTER})*\s*$"
)
_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None"}
)


class ExpressionError(ValueError):
    """An expression that does not parse or cannot be evaluated; the message says why."""


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    # Replay must compute the same values: nothing random.
    env.filters.pop("random", None)
    env.globals.pop("lipsum", None)
    env.filters["tojson"] = _tojson
    env.filters["fromjson"] = json.loads
    return env


ENV = _environment()


@dataclass(frozen=True)
class References:
    """The `nodes.X` and `vars.X` names a field refers to."""

    nodes: frozenset[str] = field(default_factory=frozenset)
    vars: frozenset[str] = field(default_factory=frozenset)
    error: bool = False


_UNPARSED = References()
"""What `references` returns for a field that does not parse (`syntax_error` says why)."""


def is_template(text: str) -> bool:
    """Whether a string has any Jinja syntax at all (plain text needs no parsing)."""
    return any(marker in text for marker in _MARKERS)


def _syntax_message(exc: TemplateSyntaxError, kind: Kind) -> str:
    where = f"line {exc.lineno}: " if kind == "template" and exc.lineno > 1 else ""
    return f"{where}{exc.message}"


def _simple_references(text: str, kind: Kind) -> References | None:
    """References of a field made only of plain paths, or None if it needs the real parser."""
    if kind == "expression":
        parts = [text]
    else:
        if "{%" in text or "{#" in text or "{{" in _OUTPUT.sub("", text):
            return None
        parts = _OUTPUT.findall(text)
    found: dict[str, set[str]] = {"nodes": set(), "vars": set()}
    uses_error = False
    for part in parts:
        match = _SIMPLE.match(part)
        if match is None or _KEYWORDS.intersection(re.findall(_NAME, _strip_strings(part))):
            return None
        base, first = match.group("base"), match.group("first")
        uses_error = uses_error or base == "error"
        if base not in found or not first:
            continue
        key = first[1:] if first.startswith(".") else first.strip("[] \t\n")
        if key.isdigit():
            return None
        found[base].add(key.strip("'\""))
    return References(frozenset(found["nodes"]), frozenset(found["vars"]), uses_error)


def _strip_strings(text: str) -> str:
    return re.sub(_STRING, "''", text)


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
    return value


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate a bare expression to its native value."""
    function = _compiled_expression(text)
    try:
        return _checked(function(**scope))
    except (UndefinedError, SecurityError) as exc:
        raise ExpressionError(str(exc)) from None
    except ExpressionError:
        raise
    except Exception as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


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
        return _template(text).render(**scope)
    except (UndefinedError, SecurityError) as exc:
        raise ExpressionError(str(exc)) from None
    except Exception as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON value (objects and lists are walked)."""
    if isinstance(value, str):
        return render(value, scope)
    if isinstance(value, Mapping):
        return {k: render_value(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, scope) for v in value]
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
    for pattern, kind in spec.field_kinds.items():
        for path, value in values_at(config, pattern):
            if kind == "expression":
                if isinstance(value, str):
                    yield path, kind, value
            else:
                for string_path, text in iter_strings(value, path):
                    yield string_path, kind, text
