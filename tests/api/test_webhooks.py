"""Webhook signatures made with the providers' own libraries where they exist (stripe,
slack-sdk, standardwebhooks) and by GitHub's documented scheme: good, bad, stale, and the
delivery ids that let a replayed delivery be recognised."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook
from stripe import WebhookSignature

from engine.api.webhooks import SignatureError, accepts, verify

BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"amount": 5}}).encode()
NOW = 1_800_000_000


def test_github():
    secret = "gh-secret"
    signature = "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "d-1",
    }
    delivery = verify("github", secret, headers, BODY, NOW)
    assert (delivery.delivery_id, delivery.event, delivery.payload["id"]) == (
        hashlib.sha256(BODY).hexdigest(),
        "issues",
        "evt_1",
    )
    resent = verify("github", secret, {**headers, "X-GitHub-Delivery": "d-2"}, BODY, NOW)
    assert resent.delivery_id == delivery.delivery_id
    with pytest.raises(SignatureError, match="does not match"):
        verify("github", "other", headers, BODY, NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify("github", secret, headers, BODY + b" ", NOW)
    with pytest.raises(SignatureError, match="missing"):
        verify("github", secret, {}, BODY, NOW)


def test_stripe():
    secret = "whsec_stripe"
    header = WebhookSignature.generate_signature_header(BODY.decode(), secret, timestamp=NOW)
    delivery = verify("stripe", secret, {"Stripe-Signature": header}, BODY, NOW + 10)
    assert (delivery.delivery_id, delivery.event) == ("evt_1", "invoice.paid")
    with pytest.raises(SignatureError, match="does not match"):
        verify("stripe", "whsec_other", {"Stripe-Signature": header}, BODY, NOW)
    with pytest.raises(SignatureError, match="old"):
        verify("stripe", secret, {"Stripe-Signature": header}, BODY, NOW + 301)
    with pytest.raises(SignatureError, match="missing"):
        verify("stripe", secret, {"Stripe-Signature": "garbage"}, BODY, NOW)


def test_slack():
    secret = "slack-signing-secret"
    body = json.dumps({"event_id": "Ev1", "event": {"type": "app_mention"}}).encode()
    timestamp = str(NOW)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    delivery = verify("slack", secret, headers, body, NOW + 1)
    assert (delivery.delivery_id, delivery.event) == ("Ev1", "app_mention")
    with pytest.raises(SignatureError, match="does not match"):
        verify("slack", "nope", headers, body, NOW)
    with pytest.raises(SignatureError, match="old"):
        verify("slack", secret, headers, body, NOW - 400)


def test_standard_webhooks():
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(NOW, UTC), BODY.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    delivery = verify("standard", secret, headers, BODY, NOW)
    assert (delivery.delivery_id, delivery.event) == ("msg_1", "invoice.paid")
    with pytest.raises(SignatureError, match="does not match"):
        verify("standard", secret, {**headers, "webhook-id": "msg_2"}, BODY, NOW)
    with pytest.raises(SignatureError, match="old"):
        verify("standard", secret, headers, BODY, NOW + 3600)


def test_generic_with_and_without_a_secret_and_unknown_sources():
    signature = "sha256=" + hmac.new(b"k", BODY, hashlib.sha256).hexdigest()
    signed = {"X-Aerostudio-Signature": signature, "X-Aerostudio-Delivery": "1"}
    assert verify("generic", "k", signed, BODY).payload["id"] == "evt_1"
    assert (
        verify("generic", "k", signed, BODY).delivery_id
        == verify("generic", "k", {**signed, "X-Aerostudio-Delivery": "2"}, BODY).delivery_id
        == hashlib.sha256(BODY).hexdigest()
    )
    with pytest.raises(SignatureError):
        verify("generic", "k", {}, BODY)
    assert verify("generic", None, {}, BODY, time.time()).payload["type"] == "invoice.paid"
    with pytest.raises(SignatureError, match="needs its signing secret"):
        verify("github", None, {}, BODY)
    with pytest.raises(ValueError, match="unknown webhook source"):
        verify("gitlab", "x", {}, BODY)


def test_event_filters():
    delivery = verify("generic", None, {"X-Aerostudio-Event": "invoice.paid"}, BODY)
    assert accepts([], delivery)
    assert accepts(["invoice"], delivery)
    assert accepts(["invoice.paid"], delivery)
    assert not accepts(["charge", "invoice.created"], delivery)


def _stripe_header(secret: str, timestamp: str) -> str:
    signed = f"{timestamp}.".encode() + BODY
    return f"t={timestamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("timestamp", ["NaN", "nan", "inf", "-inf", "Infinity", "1e9", "soon", ""])
def test_a_timestamp_that_is_not_whole_seconds_is_refused_though_signed(timestamp):
    """A delivery signed with t=NaN passed the age check (every comparison with NaN is
    false): Stripe and Slack timestamps are whole seconds, within the tolerance."""
    header = {"Stripe-Signature": _stripe_header("whsec_s", timestamp)}
    with pytest.raises(SignatureError, match=r"whole number of seconds|missing"):
        verify("stripe", "whsec_s", header, BODY, NOW)
    slack = "v0=" + hmac.new(b"k", f"v0:{timestamp}:".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": slack}
    with pytest.raises(SignatureError, match=r"whole number of seconds|missing"):
        verify("slack", "k", headers, BODY, NOW)
    fine = {"Stripe-Signature": _stripe_header("whsec_s", str(NOW))}
    assert verify("stripe", "whsec_s", fine, BODY, NOW).event == "invoice.paid"
