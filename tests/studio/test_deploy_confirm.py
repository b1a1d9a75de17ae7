"""File ▸ Deploy… of a flow anyone can start (a public endpoint): the server refuses it until
confirmed, the dialog lists why and offers to deploy anyway, and then it is deployed."""

from __future__ import annotations

import pytest

from engine.api.client import ApiClient
from tests.flow.builders import edge, end, flow, trigger
from tests.studio.harness import drive, until
from tests.studio.test_deploy_dialog import (  # noqa: F401  (fixtures)
    click,
    fill,
    keyring_backend,
    serving,
    studio,
)

pytestmark = pytest.mark.timeout(120)


def public_flow():
    endpoint = trigger(kind="endpoint", endpoint={"slug": "open-api", "auth": "public"})
    return flow([endpoint, end("done", "hi")], [edge("start", "done")], id="open", name="Open")


def test_a_public_endpoint_is_deployed_only_after_deploy_anyway(studio, tmp_path, keyring_backend):  # noqa: F811
    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens):
            studio.document.replace(public_flow())
            dialog = studio.remote.open_deploy()
            fill(dialog, url, tokens["developer"])
            click(dialog.deploy_button)
            await until(lambda: dialog.deploy_button.text() == "Deploy anyway", "the refusal")
            lines = [dialog.issues.item(i).text() for i in range(dialog.issues.count())]
            assert lines == [
                "start.endpoint.auth: warning: this endpoint is public, so anyone who finds its "
                "URL can start runs (endpoint.auth api_key asks for a key)"
            ]
            assert "anyone who finds its URL" in dialog.status.message.text()
            async with ApiClient(url, tokens["viewer"]) as client:
                assert await client.deployments("open") == []
            await until(dialog.deploy_button.isEnabled, "the deploy button to come back")
            click(dialog.deploy_button)
            await until(dialog.result_box.isVisible, "the deploy")
            assert "Deployed open v1" in dialog.outcome.text()
            assert dialog.deploy_button.text() == "Deploy"

    drive(scenario())
