"""The node reference, docs/nodes.md, made from the specs so it cannot drift from the code.

Regenerate it after changing a node type: `python -m engine.nodes.reference > docs/nodes.md`.
tests/test_docs.py fails while the committed file differs from `render()`.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine.nodes import NODE_SPECS
from engine.nodes.spec import Category, NodeSpec, SecretRef, walk_fields

COMMAND = "python -m engine.nodes.reference > docs/nodes.md"

_HEADER = f"""# Node reference

> Generated from the node specs in `engine/nodes/` by `{COMMAND}`; do not edit by hand.
> The execution model and the rules these nodes follow are in [flows.md](flows.md).

Every node has `id`, `type`, `label`, `position` and `config`, and may have `retry`, `timeout_s`
and `output_variable`; the tables below list `config`, nested fields by path (`cases[].when`).
A field marked *template* holds Jinja templates (in an object: every string inside it), one
marked *expression* a bare Jinja expression without braces; a limit above its *cap* is reported
by validation as `limit.above_cap`. Nodes with a side effect are checkpointed (a recovered run
does not repeat them); nodes that pause wait durably.
"""


class MissingDocstringError(ValueError):
    """A spec's handle, variable or side-effect function has no docstring to show."""


def render(specs: Iterable[NodeSpec] | None = None) -> str:
    """The reference of `specs` (all 19 by default): an index, then a section per node type,
    ordered by category, then type, so the output is the same on every run."""
    specs = sorted(NODE_SPECS.values() if specs is None else specs, key=_order)
    lines = [_HEADER, "| type | category | what it does |", "|---|---|---|"]
    lines += [f"| [`{s.type}`](#{s.type}) | {s.category.value} | {s.description} |" for s in specs]
    for spec in specs:
        lines += ["", *_section(spec)]
    return "\n".join(lines) + "\n"


def _order(spec: NodeSpec) -> tuple[int, str]:
    return list(Category).index(spec.category), spec.type


def _section(spec: NodeSpec) -> Iterator[str]:
    yield f"## {spec.type}"
    yield ""
    yield f"**{spec.title}** ({spec.category.value}). {spec.description}."
    yield ""
    yield f"- Input: {'one' if spec.has_input else 'none, nothing connects into it'}"
    yield f"- Output handles: {_handles(spec)}"
    if spec.scope_outputs is not None:
        yield f"- Scopes: {_doc(spec, spec.scope_outputs)}"
    if spec.variables is not None:
        yield f"- Sets in `vars`: {_doc(spec, spec.variables)}"
    yield f"- Side effect: {_side_effect(spec)}"
    if spec.pauses:
        yield "- Pauses: yes, the run waits durably here"
    yield f"- Output: {spec.output or 'none'}"
    yield ""
    yield "| field | type | default | description |"
    yield "|---|---|---|---|"
    for path, info in walk_fields(spec.config_model):
        yield f"| `{path}` | {_type(info)} | {_default(info)} | {_description(info)} |"


def _handles(spec: NodeSpec) -> str:
    static = ", ".join(f"`{h}`" for h in spec.outputs)
    if spec.dynamic_outputs is None:
        return static or "none"
    named = _doc(spec, spec.dynamic_outputs)
    return f"{named}; then {static}" if static else named


def _side_effect(spec: NodeSpec) -> str:
    if callable(spec.side_effect):
        return f"depends on the config. {_doc(spec, spec.side_effect)}."
    return "yes, checkpointed" if spec.side_effect else "no"


def _doc(spec: NodeSpec, function: Callable[..., Any]) -> str:
    doc = (function.__doc__ or "").strip()
    if not doc:
        name = getattr(function, "__name__", repr(function))
        raise MissingDocstringError(
            f"node type '{spec.type}': {name} needs a docstring saying what it gives, "
            "as the node reference shows it"
        )
    return " ".join(doc.split()).rstrip(".")


def _type(info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    text = _annotation(info.annotation) + "".join(_bounds(info))
    if extra.get("x-template"):
        text += ", *template*"
    if extra.get("x-expression"):
        text += ", *expression*"
    if "x-cap" in extra:
        text += f", *cap* {_number(extra['x-cap'])}"
    return text


def _annotation(annotation: Any) -> str:
    """A reader's name for a field's type: `"a" or "b"`, `list of string`, `object`."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " or ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (Union, types.UnionType):
        kept = [_annotation(a) for a in args if a is not type(None)]
        return " or ".join(kept) + (", optional" if type(None) in args else "")
    if origin is list:
        return f"list of {_annotation(args[0])}" if args else "list"
    if origin is dict or annotation is dict:
        return "object"
    if annotation is SecretRef:
        return "secret reference `{secret}`"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, "any")


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >="))


def _bounds(info: FieldInfo) -> Iterator[str]:
    """The field's pydantic constraints (`ge=1` and the like), as `, >= 1`."""
    for constraint in info.metadata:
        for attribute, sign in _BOUNDS:
            value = getattr(constraint, attribute, None)
            if value is not None:
                yield f", {sign} {_number(value)}"


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    return f"`{json.dumps(info.get_default(call_default_factory=True))}`"


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _description(info: FieldInfo) -> str:
    return (info.description or "").replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(render())
