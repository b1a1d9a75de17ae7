"""Routes of deployments: deploy a flow as a new immutable version, list the versions, read
one, diff two, activate one (deploying forward or rolling back) or deactivate the flow."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.deployments import DeploymentRefused, Deployments
from engine.api.errors import (
    SEQ_MAX,
    ApiError,
    confirmed_exposure,
    flow_body,
    json_body,
    whole_number,
)
from engine.api.members import DEVELOPER, VIEWER, caller, check_flow, check_workspace
from engine.api.routing import Router
from engine.flow import Flow
from engine.gateway.tokens import Member


class DeploymentRoutes:
    """Versions in the gateway's database; the active ones answer on the URLs deploy returns
    (engine.api.trigger_routes) and run on the scheduler."""

    def __init__(self, deployments: Deployments) -> None:
        self.deployments = deployments

    def _check(self, member: Member, flow_id: str) -> None:
        """A 403 unless the member belongs to the workspace of every version of the flow."""
        for workspace in sorted(self.deployments.workspaces(flow_id), key=str):
            check_workspace(member, workspace)

    def routes(self, route: Router) -> list[Route]:
        return [
            route("/api/deployments", self.list_deployments, ["GET"], VIEWER),
            route("/api/deployments", self.deploy, ["POST"], DEVELOPER),
            route("/api/deployments/{flow_id}/flow", self.deployed_flow, ["GET"], VIEWER),
            route("/api/deployments/{flow_id}/diff", self.diff_deployments, ["GET"], VIEWER),
            route("/api/deployments/{flow_id}/activate", self.activate, ["POST"], DEVELOPER),
            route("/api/deployments/{flow_id}/deactivate", self.deactivate, ["POST"], DEVELOPER),
        ]

    async def deploy(self, request: Request) -> Response:
        """
        summary: Deploy a flow (a new immutable version unless the content is unchanged)
        requestBody:
          schema: {type: object, required: [flow], properties: {flow: {type: object},
            activate: {type: boolean, default: true}, confirm: {type: boolean}}}
        responses:
          201: {description: "a new version"}
          200: {description: "the same content as the latest version"}
          409: {description: "anyone could start it and confirm is not true (the issues)"}
          422: {description: "the flow has errors (with the issues)"}
        """
        body = await json_body(request)
        flow = flow_body(body)
        check_flow(caller(request), flow)
        self._check(caller(request), flow.id)
        confirmed_exposure(flow, body.get("confirm"))
        try:
            deployment, created = self.deployments.deploy(flow)
        except DeploymentRefused as exc:
            return JSONResponse(
                {"error": "flow_has_errors", "message": str(exc), "issues": exc.issues},
                status_code=422,
            )
        if body.get("activate", True):
            self.deployments.activate(flow.id, deployment.version)
        record = {**deployment.__dict__, "active": bool(body.get("activate", True))}
        return JSONResponse(
            {**record, "created": created, "endpoints": _endpoints(flow)},
            status_code=201 if created else 200,
        )

    async def list_deployments(self, request: Request) -> Response:
        """
        summary: Deployed versions
        parameters:
          - {name: flow_id, in: query, schema: {type: string}}
        """
        member = caller(request)
        versions = self.deployments.versions(request.query_params.get("flow_id"))
        shown = [d.__dict__ for d in versions if member.may_use(d.workspace)]
        return JSONResponse({"deployments": shown})

    async def deployed_flow(self, request: Request) -> Response:
        """
        summary: A deployed version's flow document (the active version by default)
        description: What a client compares its flow with before it deploys.
        parameters:
          - {name: version, in: query, schema: {type: integer}}
        responses:
          200: {description: "{flow_id, version, flow}"}
          404: {description: "no such version, or no active one"}
        """
        from engine.flow import to_document

        flow_id = request.path_params["flow_id"]
        self._check(caller(request), flow_id)
        given = request.query_params.get("version")
        versions = self.deployments.versions(flow_id)
        active = next((d.version for d in versions if d.active), None)
        version = whole_number(given, "version", 0, high=SEQ_MAX) if given else active
        if version is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' has no active version")
        flow = self.deployments.flow(flow_id, version)
        return JSONResponse({"flow_id": flow_id, "version": version, "flow": to_document(flow)})

    async def diff_deployments(self, request: Request) -> Response:
        """
        summary: A unified diff between two versions
        parameters:
          - {name: from, in: query, schema: {type: integer}}
          - {name: to, in: query, schema: {type: integer}}
        """
        query = request.query_params
        flow_id = request.path_params["flow_id"]
        self._check(caller(request), flow_id)
        old, new = (whole_number(query.get(k), k, 0, high=SEQ_MAX) for k in ("from", "to"))
        diff = self.deployments.diff(flow_id, old, new)
        return JSONResponse({"diff": diff})

    async def activate(self, request: Request) -> Response:
        """
        summary: Activate a version (deploy it, or roll back to it)
        requestBody:
          schema: {type: object, required: [version], properties: {version: {type: integer}}}
        """
        flow_id = request.path_params["flow_id"]
        self._check(caller(request), flow_id)
        version = whole_number(
            (await json_body(request)).get("version"), "version", 0, high=SEQ_MAX
        )
        self.deployments.activate(flow_id, version)
        return JSONResponse({"flow_id": flow_id, "active": version})

    async def deactivate(self, request: Request) -> Response:
        """
        summary: Deactivate a flow (its endpoints and webhooks stop answering)
        """
        flow_id = request.path_params["flow_id"]
        self._check(caller(request), flow_id)
        self.deployments.deactivate(flow_id)
        return JSONResponse({"flow_id": flow_id, "active": None})


def _endpoints(flow: Flow) -> list[str]:
    """The URLs a deployed flow answers on."""
    urls = []
    for node in flow.nodes:
        if node.type != "trigger":
            continue
        kind = node.config.get("kind")
        if kind == "endpoint":
            urls.append(f"/api/run/{node.config['endpoint']['slug']}")
        elif kind == "webhook":
            urls.append(f"/hooks/{flow.id}")
    return urls
