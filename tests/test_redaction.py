"""The redactor finds a secret in its plain and encoded forms, wherever it sits."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from engine.redaction import MARKER, Redactor

SECRET = 's3cr3t/Val+ue?&é"x'


@pytest.mark.parametrize(
    "encode",
    [
        lambda v: v,
        lambda v: json.dumps(v)[1:-1],
        lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
        lambda v: repr(v)[1:-1],
        lambda v: quote(v, safe=""),
        quote,
        quote_plus,
        lambda v: v.encode().hex(),
        lambda v: v.encode().hex().upper(),
        lambda v: base64.b64encode(v.encode()).decode(),
        lambda v: base64.b64encode(v.encode()).decode().rstrip("="),
        lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
        lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    ],
)
def test_each_encoding_is_replaced(encode: object) -> None:
    encoded = encode(SECRET)  # type: ignore[operator]
    out = Redactor([SECRET]).text(f"before {encoded} after")
    assert out == f"before {MARKER} after"


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"PREFIX:"])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_inside_a_longer_text_at_any_alignment(prefix: bytes, urlsafe: bool) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    blob = encode(prefix + f"API_KEY={SECRET}\nNEXT=1".encode()).decode()
    out = Redactor([SECRET]).text(blob)
    start = len(prefix) + len(b"API_KEY=")
    end = start + len(SECRET.encode())
    only_secret = blob[-(-8 * start // 6) : 8 * end // 6]  # characters made of secret bits only
    assert out.count(MARKER) == 1
    assert only_secret not in out
    assert out.startswith(blob[: 8 * start // 6])  # what precedes the secret is kept


def test_longest_value_first_and_several_values() -> None:
    redactor = Redactor(["abcd", "abcdefgh", "zzzz"])
    assert redactor.text("abcdefgh abcd zzzz abc") == f"{MARKER} {MARKER} {MARKER} abc"


def test_values_too_short_are_ignored_and_empty_redactor_is_false() -> None:
    assert not Redactor([])
    assert not Redactor(["abc", ""])
    assert Redactor(["abc", "abcd"])
    assert Redactor(["abc"]).text("abc") == "abc"


def test_value_walks_json_like_data() -> None:
    redactor = Redactor([SECRET])
    data = {
        "env": {"TOKEN": SECRET, SECRET: [1, 2.5, None, True, f"x{SECRET}x", (SECRET,)]},
        "n": 3,
    }
    out = redactor.value(data)
    assert out == {
        "env": {"TOKEN": MARKER, MARKER: [1, 2.5, None, True, f"x{MARKER}x", (MARKER,)]},
        "n": 3,
    }
    assert data["env"]["TOKEN"] == SECRET  # the input is not changed
    assert SECRET not in json.dumps(out, ensure_ascii=False)


def test_update_rebuilds_only_when_the_set_changes() -> None:
    redactor = Redactor(["first-secret"])
    pattern = redactor._pattern
    redactor.update(["first-secret"])
    assert redactor._pattern is pattern
    redactor.add(["second-secret"])
    assert redactor._pattern is not pattern
    assert redactor.text("first-secret second-secret") == f"{MARKER} {MARKER}"
    redactor.update(["second-secret"])  # a deleted secret is no longer looked for
    assert redactor.text("first-secret second-secret") == f"first-secret {MARKER}"


def test_many_values_stay_fast() -> None:
    import time

    redactor = Redactor(f"secret-value-{i:04d}" for i in range(200))
    text = "ordinary output line without anything secret in it\n" * 2000
    started = time.perf_counter()
    assert redactor.text(text) == text
    assert time.perf_counter() - started < 2.0
