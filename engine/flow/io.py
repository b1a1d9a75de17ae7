"""Reading and writing flow files: clear load errors, migrations, deterministic saving."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.flow.model import FORMAT, Flow, Node
from engine.nodes import get_spec

Document = dict[str, Any]
Migration = Callable[[Document], Document]

_FORMAT_RE = re.compile(r"^aerostudio\.flow/(\d+)$")
CURRENT_VERSION = int(FORMAT.rsplit("/", 1)[1])

# Older format -> function giving the document in the next format. Empty while only /1 exists.
MIGRATIONS: dict[int, Migration] = {}


class FlowLoadError(ValueError):
    """A flow file that cannot be read: names the file, the JSON path and what is wrong."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        path, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{source}: {path}: {message}{more}")


def json_path(location: tuple[int | str, ...]) -> str:
    """`("nodes", 3, "id")` -> `$.nodes[3].id`."""
    parts = ["$"]
    for part in location:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts)


def migrate(document: Document, source: str = "<flow>") -> Document:
    """Bring a document of an older format up to the current one; refuse newer formats."""
    fmt = document.get("format")
    match = _FORMAT_RE.match(fmt) if isinstance(fmt, str) else None
    if match is None:
        raise FlowLoadError(
            source, [("$.format", f"expected '{FORMAT}', got {json.dumps(fmt)}: not a flow file")]
        )
    version = int(match.group(1))
    if version > CURRENT_VERSION:
        raise FlowLoadError(
            source,
            [
                (
                    "$.format",
                    f"saved by a newer Aerostudio ({fmt}); this version reads up to {FORMAT}",
                )
            ],
        )
    while version < CURRENT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise FlowLoadError(source, [("$.format", f"no migration from {fmt} to {FORMAT}")])
        document = step(document)
        version += 1
        document["format"] = f"aerostudio.flow/{version}"
    return document


def _non_finite(value: Any, location: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where a number JSON cannot hold (NaN, Infinity) sits in a document, if anywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return location
    items = (
        value.items()
        if isinstance(value, dict)
        else (enumerate(value) if isinstance(value, list | tuple) else ())
    )
    for key, item in items:
        found = _non_finite(item, (*location, key))
        if found is not None:
            return found
    return None


def from_document(document: Any, source: str = "<flow>") -> Flow:
    """Build a Flow from parsed JSON, migrating older formats."""
    bad = _non_finite(document)
    if bad is not None:
        raise FlowLoadError(source, [(json_path(bad), "NaN and Infinity are not JSON numbers")])
    return _from_finite_document(document, source)


def _from_finite_document(document: Any, source: str) -> Flow:
    if not isinstance(document, dict):
        raise FlowLoadError(
            source, [("$", f"expected a JSON object, got {type(document).__name__}")]
        )
    document = migrate(dict(document), source)
    try:
        return Flow.model_validate(document)
    except ValidationError as exc:
        problems = [(json_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise FlowLoadError(source, problems) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes, source: str = "<flow>") -> Flow:
    overflowed = False

    def number(literal: str) -> float:
        # Only a literal too large for a float (1e999) reads as Infinity: then the document
        # is searched for where, instead of walking every value of every flow.
        nonlocal overflowed
        value = float(literal)
        overflowed = overflowed or math.isinf(value)
        return value

    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=number)
    except json.JSONDecodeError as exc:
        raise FlowLoadError(
            source, [(f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise FlowLoadError(source, [("$", f"not UTF-8 text: {exc.reason}")]) from None
    except RecursionError:
        raise FlowLoadError(source, [("$", "JSON nested too deeply")]) from None
    except ValueError as exc:
        raise FlowLoadError(source, [("$", f"invalid JSON: {exc}")]) from None
    if overflowed:
        return from_document(document, source)
    return _from_finite_document(document, source)


def load(path: str | os.PathLike[str]) -> Flow:
    """Read a `*.flow.json` file; raises FlowLoadError naming the file, JSON path and problem."""
    source = os.fspath(path)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise FlowLoadError(source, [("$", f"cannot read the file: {exc.strerror}")]) from None
    return loads(data, source)


# ------------------------------------------------------------------------------------- saving


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _sorted_object(value: Any) -> Any:
    """Free-form JSON with object keys sorted, so saving does not depend on input key order."""
    if isinstance(value, Mapping):
        return {str(k): _sorted_object(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted_object(v) for v in value]
    return value


def _config_document(node: Node) -> Document:
    """Config keys in the node type's field order (unknown keys after, sorted)."""
    spec = get_spec(node.type)
    order = spec.field_order if spec else {}
    keys = sorted(node.config, key=lambda k: (order.get(k, len(order)), k))
    return {k: _sorted_object(node.config[k]) for k in keys}


def _model_document(model: Any) -> Any:
    data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return _plain_numbers(data)


def _plain_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return _number(value)


def _node_document(node: Node) -> Document:
    doc: Document = {"id": node.id, "type": node.type}
    if node.label:
        doc["label"] = node.label
    doc["position"] = [_number(v) for v in node.position]
    doc["config"] = _config_document(node)
    if node.retry is not None:
        doc["retry"] = _model_document(node.retry)
    if node.timeout_s is not None:
        doc["timeout_s"] = _number(node.timeout_s)
    if node.output_variable is not None:
        doc["output_variable"] = node.output_variable
    return doc


def to_document(flow: Flow) -> Document:
    """The canonical JSON document of a flow: fixed key order, items sorted by id."""
    doc: Document = {"format": flow.format, "id": flow.id, "name": flow.name}
    if flow.description:
        doc["description"] = flow.description
    if flow.workspace is not None:
        doc["workspace"] = flow.workspace
    settings = _model_document(flow.settings)
    if "demo_rules" in settings.get("llm", {}):
        settings["llm"]["demo_rules"] = _sorted_object(settings["llm"]["demo_rules"])
    if settings:
        doc["settings"] = settings
    doc["nodes"] = [_node_document(n) for n in sorted(flow.nodes, key=lambda n: n.id)]
    doc["edges"] = [
        {"id": e.id, "from": e.source, "handle": e.handle, "to": e.target}
        for e in sorted(flow.edges, key=lambda e: e.id)
    ]
    if flow.notes:
        doc["notes"] = [
            {
                "id": n.id,
                "text": n.text,
                "position": [_number(v) for v in n.position],
                "size": [_number(v) for v in n.size],
            }
            for n in sorted(flow.notes, key=lambda n: n.id)
        ]
    return doc


def _encode(value: Any, indent: str) -> str:
    """JSON with two-space indent, short scalar lists on one line (positions stay `[0, 0]`)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_encode(v, inner)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, dict | list) for v in value):
            flat = "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
            if len(flat) + len(indent) <= 96:
                return flat
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _encode(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def dumps(flow: Flow) -> str:
    return _encode(to_document(flow), "") + "\n"


def save(flow: Flow, path: str | os.PathLike[str]) -> None:
    """Write atomically: a crash mid-save never leaves a half-written flow."""
    target = Path(path)
    text = dumps(flow)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
