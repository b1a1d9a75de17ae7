"""Triggers anyone on the network can start: a webhook without a signing secret and an endpoint
without an API key. Warnings here; a server deploys such a flow only when asked to confirm
(engine.api.deployment_routes), since anyone who finds the URL then starts runs."""

from __future__ import annotations

from collections.abc import Iterator

from engine.flow.model import Flow
from engine.flow.validate.issues import Issue, warning

EXPOSURE_CODES = ("trigger.unsigned_webhook", "trigger.public_endpoint")


def exposure_issues(flow: Flow) -> Iterator[Issue]:
    for node in flow.nodes:
        if node.type != "trigger":
            continue
        kind = node.config.get("kind")
        webhook = node.config.get("webhook") or {}
        endpoint = node.config.get("endpoint") or {}
        if kind == "webhook" and isinstance(webhook, dict) and not webhook.get("secret"):
            yield warning(
                "trigger.unsigned_webhook",
                "this webhook has no signing secret, so anyone who finds its URL can start "
                "runs (set webhook.secret to a secret of the workspace)",
                node_id=node.id,
                field="webhook.secret",
            )
        if kind == "endpoint" and isinstance(endpoint, dict) and endpoint.get("auth") == "public":
            yield warning(
                "trigger.public_endpoint",
                "this endpoint is public, so anyone who finds its URL can start runs "
                "(endpoint.auth api_key asks for a key)",
                node_id=node.id,
                field="endpoint.auth",
            )
