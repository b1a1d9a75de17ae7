"""What a node type is, independent of how it runs: config model, handles, flags, palette text.

Specs are pure data with pydantic models; the studio imports them, so nothing heavy here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

FieldKind = Literal["template", "expression"]


class Category(StrEnum):
    TRIGGER = "Triggers"
    AI = "AI"
    FLOW = "Flow control"
    TOOLS = "Tools & code"
    PEOPLE = "People"
    MESSAGING = "Messaging"


class NodeConfig(BaseModel):
    """Base of every node type's config: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretRef(BaseModel):
    """A reference to a workspace vault secret, resolved at the moment of use."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,128}$", description="Name of the secret in the vault"
    )


def template(default: Any = ..., description: str = "", **kwargs: Any) -> Any:
    """A field whose strings are Jinja templates (objects: every string inside them)."""
    return Field(default, description=description, json_schema_extra={"x-template": True}, **kwargs)


def expression(default: Any = ..., description: str = "", **kwargs: Any) -> Any:
    """A field holding one bare Jinja expression, without braces."""
    return Field(
        default, description=description, json_schema_extra={"x-expression": True}, **kwargs
    )


def capped(default: Any, cap: float, description: str, *, ge: float = 0, **kwargs: Any) -> Any:
    """A numeric limit; values above `cap` are reported by validation as `limit.above_cap`."""
    return Field(
        default,
        ge=ge,
        description=description,
        json_schema_extra={"x-cap": cap, "maximum": cap},
        **kwargs,
    )


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model inside `annotation` (directly, optional, or a list), and if a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin is list and args:
        model, _ = _submodel(args[0])
        return model, True
    for arg in args:
        model, is_list = _submodel(arg)
        if model is not None and model is not SecretRef:
            return model, is_list
    return None, False


def walk_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every field of `model` and its nested models, by path (`cases[].when`, `webhook.secret`)."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        yield path, info
        sub, is_list = _submodel(info.annotation)
        if sub is not None and sub is not SecretRef:
            yield from walk_fields(sub, f"{path}[]." if is_list else f"{path}.")


@dataclass(frozen=True)
class CheckedField:
    """A config field validation looks at: a template, an expression or a capped limit, or a
    model (`is_list`: a list of them) with such fields inside."""

    kind: FieldKind | None
    cap: float | None
    is_list: bool
    fields: CheckedFields


CheckedFields = tuple[tuple[str, CheckedField], ...]
CheckedValue = tuple[str, CheckedField, Any]
"""A checked field's concrete path in a config (`cases[1].when`), the field, and its value."""


HandleFunction = Callable[[Mapping[str, Any]], list[str]]
ConfigModel = type[NodeConfig]


@dataclass(frozen=True)
class NodeSpec:
    """One node type of docs/flows.md §4; `output` says what the node's output holds (for
    docs/nodes.md, made from these specs by `python -m engine.nodes.reference`)."""

    type: str
    title: str
    description: str
    category: Category
    icon: str
    config_model: ConfigModel
    outputs: tuple[str, ...] = ("out",)
    dynamic_outputs: HandleFunction | None = None
    scope_outputs: HandleFunction | None = None
    variables: HandleFunction | None = None
    side_effect: bool | Callable[[Mapping[str, Any]], bool] = False
    pauses: bool = False
    has_input: bool = True
    output: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def output_handles(self, config: Mapping[str, Any]) -> list[str]:
        """Static handles, then the ones named in the config, without duplicates."""
        handles = list(self.outputs)
        if self.dynamic_outputs is not None:
            handles[:0] = [h for h in self.dynamic_outputs(config) if h not in handles]
        return handles

    def scope_handles(self, config: Mapping[str, Any]) -> list[str]:
        """Handles whose downstream nodes form a scope owned by this node (loop body, branches)."""
        return self.scope_outputs(config) if self.scope_outputs is not None else []

    def variables_set(self, config: Mapping[str, Any]) -> list[str]:
        """Names this node sets in `vars` for the nodes downstream of it."""
        return self.variables(config) if self.variables is not None else []

    def has_side_effect(self, config: Mapping[str, Any]) -> bool:
        return self.side_effect(config) if callable(self.side_effect) else self.side_effect

    @property
    def owns_scopes(self) -> bool:
        return self.scope_outputs is not None

    @cached_property
    def checked_fields(self) -> CheckedFields:
        """The config fields validation looks at (templates, expressions, capped limits), nested
        as in the config model: made once per type, so a config is walked once, along them."""
        return _checked_fields(self.config_model)

    def checked_values(self, config: Mapping[str, Any]) -> list[CheckedValue]:
        """The values of `checked_fields` in a raw config, with concrete paths (`cases[1].when`)."""
        found: list[CheckedValue] = []
        _collect(self.checked_fields, config, "", found)
        return found

    @cached_property
    def field_order(self) -> dict[str, int]:
        """Position of each top-level config key, for deterministic saving."""
        return {
            (info.alias or name): i
            for i, (name, info) in enumerate(self.config_model.model_fields.items())
        }


def names(config: Mapping[str, Any], key: str, attribute: str | None = None) -> list[str]:
    """The string names in `config[key]` (a list of strings, or of objects with `attribute`).

    Tolerates malformed configs: the validator reports those, handles must still be listable.
    """
    value = config.get(key) if isinstance(config, Mapping) else None
    if not isinstance(value, list):
        return []
    found: list[str] = []
    for item in value:
        name = item.get(attribute) if attribute and isinstance(item, Mapping) else item
        if isinstance(name, str) and name and name not in found:
            found.append(name)
    return found


def _checked_fields(model: type[BaseModel]) -> CheckedFields:
    found: list[tuple[str, CheckedField]] = []
    for name, info in model.model_fields.items():
        extra = _extra(info)
        kind: FieldKind | None = (
            "expression"
            if extra.get("x-expression")
            else "template"
            if extra.get("x-template")
            else None
        )
        cap = float(extra["x-cap"]) if "x-cap" in extra else None
        sub, is_list = _submodel(info.annotation)
        inner = _checked_fields(sub) if sub is not None and sub is not SecretRef else ()
        if kind is not None or cap is not None or inner:
            found.append((info.alias or name, CheckedField(kind, cap, is_list, inner)))
    return tuple(found)


def _collect(
    fields: CheckedFields, value: Mapping[str, Any], path: str, found: list[CheckedValue]
) -> None:
    for key, checked in fields:
        if key not in value:
            continue
        item = value[key]
        item_path = f"{path}.{key}" if path else key
        if checked.kind is not None or checked.cap is not None:
            found.append((item_path, checked, item))
        if not checked.fields:
            continue
        if not checked.is_list:
            if isinstance(item, Mapping):
                _collect(checked.fields, item, item_path, found)
        elif isinstance(item, list):
            for index, element in enumerate(item):
                if isinstance(element, Mapping):
                    _collect(checked.fields, element, f"{item_path}[{index}]", found)
