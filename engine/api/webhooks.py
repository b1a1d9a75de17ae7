"""Verifying webhook deliveries by the providers' published schemes: GitHub
(X-Hub-Signature-256), Stripe (Stripe-Signature with a timestamp), Slack (v0 signatures with a
timestamp) and Standard Webhooks (webhook-id / -timestamp / -signature). Also what each delivery
is (its event type) and its delivery id, so a retried delivery runs once: the id is always taken
from what the signature covers (the body, or a signed id), never from an unsigned header, so a
captured delivery resent with a new delivery header is still the same delivery. Timestamps are
whole seconds within the tolerance (NaN, infinities and words are refused).

`verify` raises `SignatureError` naming what is wrong; it never says what the right signature
would have been.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.api.errors import ApiError, load_json

TOLERANCE_S = 300  # Stripe's, Slack's and Standard Webhooks' default
_SECONDS = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """The delivery is not signed with the secret, or too old to accept (HTTP 401)."""


@dataclass(frozen=True)
class Delivery:
    """A verified delivery: its id (for deduplication), event type and JSON payload."""

    delivery_id: str
    event: str | None
    payload: Any


def _hmac_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _signed_body(body: bytes) -> str:
    """The delivery id of a delivery whose body is what is signed: the body's digest."""
    return hashlib.sha256(body).hexdigest()


def _fresh(timestamp: str, now: float, tolerance_s: float) -> None:
    if not _SECONDS.fullmatch(timestamp):
        raise SignatureError(f"the timestamp '{timestamp[:20]}' is not a whole number of seconds")
    sent = int(timestamp)
    if abs(now - sent) > tolerance_s:
        raise SignatureError(
            f"the delivery is {abs(now - sent):.0f} s old (tolerance {tolerance_s:g} s)"
        )


def _payload(body: bytes) -> Any:
    """The body as JSON if it is (as the API takes JSON: engine.api.errors.load_json), else its
    text."""
    try:
        return load_json(body) if body else None
    except ApiError:
        return body.decode("utf-8", "replace")


def _github(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    given = headers.get("x-hub-signature-256", "")
    if not given.startswith("sha256="):
        raise SignatureError("X-Hub-Signature-256 is missing")
    if not hmac.compare_digest(given[7:], _hmac_hex(secret.encode(), body)):
        raise SignatureError("X-Hub-Signature-256 does not match the body")
    return Delivery(_signed_body(body), headers.get("x-github-event"), _payload(body))


def _stripe(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    parts: dict[str, list[str]] = {}
    for item in headers.get("stripe-signature", "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    if "t" not in parts or "v1" not in parts:
        raise SignatureError("Stripe-Signature is missing or has no t= and v1=")
    timestamp = parts["t"][0]
    expected = _hmac_hex(secret.encode(), f"{timestamp}.".encode() + body)
    if not any(hmac.compare_digest(expected, given) for given in parts["v1"]):
        raise SignatureError("Stripe-Signature does not match the body")
    _fresh(timestamp, now, TOLERANCE_S)
    payload = _payload(body)
    event = payload.get("type") if isinstance(payload, dict) else None
    delivery = payload.get("id") if isinstance(payload, dict) else None
    return Delivery(str(delivery or _signed_body(body)), event, payload)


def _slack(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    timestamp = headers.get("x-slack-request-timestamp", "")
    given = headers.get("x-slack-signature", "")
    if not timestamp or not given.startswith("v0="):
        raise SignatureError("X-Slack-Signature or X-Slack-Request-Timestamp is missing")
    expected = "v0=" + _hmac_hex(secret.encode(), f"v0:{timestamp}:".encode() + body)
    if not hmac.compare_digest(expected, given):
        raise SignatureError("X-Slack-Signature does not match the body")
    _fresh(timestamp, now, TOLERANCE_S)
    payload = _payload(body)
    event = None
    delivery = None
    if isinstance(payload, dict):
        inner = payload.get("event")
        event = inner.get("type") if isinstance(inner, dict) else payload.get("type")
        delivery = payload.get("event_id")
    return Delivery(str(delivery or f"{timestamp}:{given[3:19]}"), event, payload)


def _standard(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        raise SignatureError("webhook-id, webhook-timestamp or webhook-signature is missing")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise SignatureError("the webhook secret is not a base64 whsec_ key") from None
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    candidates = [s.partition(",")[2] for s in signatures.split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, given) for given in candidates):
        raise SignatureError("webhook-signature does not match the body")
    _fresh(timestamp, now, TOLERANCE_S)
    payload = _payload(body)
    event = payload.get("type") if isinstance(payload, dict) else None
    return Delivery(message_id, event, payload)


def _generic(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> Delivery:
    """Our own scheme for any sender: X-Aerostudio-Signature: sha256=<hex HMAC of the body>."""
    given = headers.get("x-aerostudio-signature", "")
    if not hmac.compare_digest(given, "sha256=" + _hmac_hex(secret.encode(), body)):
        raise SignatureError("X-Aerostudio-Signature is missing or does not match the body")
    return Delivery(_signed_body(body), headers.get("x-aerostudio-event"), _payload(body))


SCHEMES = {
    "github": _github,
    "stripe": _stripe,
    "slack": _slack,
    "standard": _standard,
    "generic": _generic,
}


def verify(
    source: str,
    secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> Delivery:
    """Check a delivery's signature (`headers` with lower-case names); a `generic` source
    without a secret accepts any delivery."""
    lowered = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    if source not in SCHEMES:
        raise ValueError(f"unknown webhook source '{source}' (one of {', '.join(SCHEMES)})")
    if secret is None:
        if source != "generic":
            raise SignatureError(f"a {source} webhook needs its signing secret")
        delivery = lowered.get("x-aerostudio-delivery") or hashlib.sha256(body).hexdigest()
        return Delivery(delivery, lowered.get("x-aerostudio-event"), _payload(body))
    return SCHEMES[source](secret, lowered, body, now)


def accepts(events: list[str] | tuple[str, ...], delivery: Delivery) -> bool:
    """Whether a trigger's event filter lets this delivery through (no filter: everything).
    A filter entry matches the event type, or its prefix before a dot (`invoice` matches
    `invoice.paid`)."""
    if not events:
        return True
    event = delivery.event or ""
    return any(event == e or event.startswith(e + ".") for e in events)
