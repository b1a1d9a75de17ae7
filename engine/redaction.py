"""Redaction of secret values, and of the simple encodings a tool or a traceback may show them in,
before any text is stored or streamed (node records, run events, tool results, call log, logs).

Every match becomes `[redacted]`. Matched forms of each value: the value itself; its JSON string
escaping and its Python repr escaping; URL-encoding (quote, quote_plus); hex (lower and upper case)
of its UTF-8 bytes; base64 (standard and URL-safe), both the whole encoding of the value alone
(with or without padding) and the part of it that is the same wherever the value sits inside a
longer base64 text (each of the three byte alignments). A value shorter than MIN_LENGTH (4)
characters is not redacted: it would match ordinary text everywhere, and such a value is not a
secret worth the name. Reversed, compressed or encrypted forms are not matched.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MARKER = "[redacted]"
MIN_LENGTH = 4


def _base64_forms(raw: bytes) -> set[str]:
    """The base64 of `raw` alone, and at each alignment the characters that depend only on it."""
    forms: set[str] = set()
    whole = base64.b64encode(raw).decode()
    forms.update((whole, whole.rstrip("=")))
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        first = -(-8 * offset // 6)  # the first character made of value bits only
        last = 8 * (offset + len(raw)) // 6  # one past the last such character
        forms.add(encoded[first:last])
    return forms | {form.replace("+", "-").replace("/", "_") for form in forms}


def forms(value: str) -> set[str]:
    """Every form of `value` the redactor replaces (none for a value too short to redact)."""
    if len(value) < MIN_LENGTH:
        return set()
    raw = value.encode()
    found = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        raw.hex(),
        raw.hex().upper(),
    }
    found |= _base64_forms(raw)
    return {form for form in found if len(form) >= MIN_LENGTH}


class Redactor:
    """Replaces a set of secret values, in any of their `forms`, by MARKER.

    One compiled alternation, longest form first (so a value inside a longer one, or a short
    encoding inside a whole one, leaves nothing behind); rebuilt only when the set changes.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.update(values)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def update(self, values: Iterable[str]) -> None:
        """Redact exactly `values` from now on (a rotated value replaced, a deleted one gone)."""
        wanted = frozenset(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH)
        if wanted != self._values:
            self._pattern = _compile(wanted)
            self._values = wanted

    def add(self, values: Iterable[str]) -> None:
        """Redact `values` too (a secret read for the first time)."""
        self.update(self._values | set(values))

    def text(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MARKER, text) if pattern is not None else text

    def value(self, obj: Any) -> Any:
        """JSON-like data with every string in it (dict keys too) redacted; other values kept."""
        if self._pattern is None:
            return obj
        return self._walk(obj)

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self._walk(v) for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [self._walk(item) for item in obj]
        if type(obj) is tuple:
            return tuple(self._walk(item) for item in obj)
        return obj


def _compile(values: frozenset[str]) -> re.Pattern[str] | None:
    every: set[str] = set().union(*(forms(v) for v in values)) if values else set()
    if not every:
        return None
    ordered = sorted(every, key=lambda form: (-len(form), form))
    return re.compile("|".join(re.escape(form) for form in ordered))
