"""Text a column takes on every database: PostgreSQL refuses a NUL character in text and
enforces a `String(n)`'s length, where SQLite takes both, and neither encodes a lone surrogate
(which JSON's `\\ud800` escapes can carry); so the stores check first and a value is taken or
refused alike on both, with a message naming the field."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def plain_text(value: str, field: str) -> str:
    """`value` unless it holds a NUL character or a lone surrogate (a ValueError naming
    `field`)."""
    if "\x00" in value:
        raise ValueError(f"{field}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field}: contains a lone surrogate (not Unicode text)") from None
    return value


def storable(column: sa.Column[Any], value: str, field: str | None = None) -> str:
    """`value` if `column` holds it on every database, else a ValueError naming `field` (the
    column's name by default)."""
    field = field or column.name
    plain_text(value, field)
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise ValueError(f"{field}: at most {length} characters")
    return value


def clipped(column: sa.Column[Any], value: str) -> str:
    """`value` made storable rather than refused, for records such as logs that must not fail:
    a NUL character becomes U+FFFD and a lone surrogate '?', and the text is cut to the
    column's length."""
    value = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    length = getattr(column.type, "length", None)
    return value[:length] if length is not None else value
