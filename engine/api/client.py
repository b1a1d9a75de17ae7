"""A typed async client of the engine API (httpx2), shared by the studio and the CLI.

It imports nothing of the engine but `engine.paths`, so the studio can use it without pulling
in DBOS, SQLAlchemy or the MCP SDK.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypedDict

import httpx2


def local_runtime() -> tuple[str, str] | None:
    """(URL, admin token) of the local runtime this user runs (`aerostudio runtime` writes them
    to the data directory), or None when none is running."""
    import os

    from engine.paths import data_dir

    try:
        state = json.loads((data_dir() / "runtime.json").read_text(encoding="utf-8"))
        os.kill(int(state["pid"]), 0)
        return str(state["url"]), str(state["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


KEYRING_SERVICE = "aerostudio-server"


def _keyring() -> Any:
    """The keyring module if a real backend works here (not the fail or null one), else None."""
    import keyring
    from keyring.backends import fail

    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration is the same as none
        return None
    return None if isinstance(backend, fail.Keyring) or backend.priority <= 0 else keyring


def saved_token(server_url: str) -> str | None:
    """The token saved for a server (by the studio or `save_token`), or None."""
    keyring = _keyring()
    try:
        return keyring.get_password(KEYRING_SERVICE, server_url.rstrip("/")) if keyring else None
    except Exception:  # locked or broken: as if nothing were saved
        return None


def save_token(server_url: str, token: str | None) -> bool:
    """Keep a server's token in the OS keyring (None forgets it); False where no keyring works,
    so the caller can say the token is kept for this session only."""
    keyring = _keyring()
    if keyring is None:
        return False
    account = server_url.rstrip("/")
    try:
        if token:
            keyring.set_password(KEYRING_SERVICE, account, token)
        elif keyring.get_password(KEYRING_SERVICE, account) is not None:
            keyring.delete_password(KEYRING_SERVICE, account)
    except Exception:
        return False
    return True


def diff_summary(diff: str) -> str:
    """`3 lines added, 1 removed` for a unified diff (between deployed versions, or a flow and
    its deployed version)."""
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return f"{added} line{'s' * (added != 1)} added, {removed} removed"


class ApiError(Exception):
    """The runtime refused or failed a request; `message` is meant for a person."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.body = status, code, message, body


class RunSummary(TypedDict):
    run_id: str
    flow_id: str
    status: str
    created_at: float
    updated_at: float


class NodeState(TypedDict, total=False):
    node_id: str
    status: str
    handle: str
    output: Any
    error: str
    duration_ms: float
    attempt: int


class RunDetail(TypedDict):
    run_id: str
    flow_id: str
    status: str
    input: Any
    output: Any
    error: Any
    created_at: float
    updated_at: float
    nodes: dict[str, NodeState]
    breakpoints: list[str]
    waiting: list[str]
    last_seq: int
    """The sequence number of the run's latest event: follow `events(after=last_seq)` from here."""
    flow: dict[str, Any]


class Deployment(TypedDict, total=False):
    flow_id: str
    version: int
    hash: str
    active: bool
    created_at: float
    created: bool
    """Only in deploy's answer: False when the content equals the latest version's."""
    endpoints: list[str]
    """Only in deploy's answer: the paths the flow answers on (/api/run/<slug>, /hooks/<id>)."""


class ApiClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx2.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx2.Timeout(timeout_s),
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx2.TransportError as exc:
            raise ApiError(
                0,
                "unreachable",
                f"the runtime at {self.base_url} is not reachable: {type(exc).__name__}",
            ) from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
            if response.status_code < 400:
                raise ApiError(
                    response.status_code,
                    "not_json",
                    f"{self.base_url} did not answer JSON: is it an Aerostudio server?",
                ) from None
        if response.status_code >= 400:
            detail = body if isinstance(body, dict) else {}
            raise ApiError(
                response.status_code,
                str(detail.get("error", "http_error")),
                str(detail.get("message", f"HTTP {response.status_code}")),
                body,
            )
        return body

    # ------------------------------------------------------------------------------- general

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/api/health")
        return result

    async def validate(
        self, flow: Mapping[str, Any], tools: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        body = await self._call("POST", "/api/flows/validate", json={"flow": flow, "tools": tools})
        issues: list[dict[str, Any]] = body["issues"]
        return issues

    # ---------------------------------------------------------------------------------- runs

    async def start_run(
        self,
        flow: Mapping[str, Any],
        payload: Any = None,
        *,
        trigger: str | None = None,
        breakpoints: list[str] | None = None,
        from_run: str | None = None,
        from_node: str | None = None,
    ) -> str:
        body = {
            "flow": flow,
            "input": payload,
            "trigger": trigger,
            "breakpoints": breakpoints or [],
            "from_run": from_run,
            "from_node": from_node,
        }
        result = await self._call("POST", "/api/runs", json=body)
        return str(result["run_id"])

    async def runs(self, flow_id: str | None = None, limit: int = 50) -> list[RunSummary]:
        params: dict[str, Any] = {"limit": limit}
        if flow_id:
            params["flow_id"] = flow_id
        result: list[RunSummary] = (await self._call("GET", "/api/runs", params=params))["runs"]
        return result

    async def run(self, run_id: str) -> RunDetail:
        result: RunDetail = await self._call("GET", f"/api/runs/{run_id}")
        return result

    async def events(self, run_id: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The run's events after sequence number `after`, as they happen, until run_finished.
        To resume after a dropped connection, call again with the last `seq` seen."""
        async with self._http.stream(
            "GET",
            f"/api/runs/{run_id}/events",
            params={"after": after},
            timeout=httpx2.Timeout(30, read=None),
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                body = response.json()
                raise ApiError(response.status_code, body["error"], body["message"], body)
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield json.loads("\n".join(data))
                    data = []

    async def cancel(self, run_id: str) -> None:
        await self._call("POST", f"/api/runs/{run_id}/cancel")

    async def resume(self, run_id: str, node_id: str | None = None, **answer: Any) -> None:
        """Answer a pause: decision="approve"|"reject" (reviewer, comment, form), code=..., or
        fire=True for a waiting timer."""
        await self._call("POST", f"/api/runs/{run_id}/resume", json={**answer, "node_id": node_id})

    async def debug(self, run_id: str, action: str, node_id: str | None = None) -> dict[str, Any]:
        """action: pause, step, continue, set_breakpoint, clear_breakpoint."""
        result: dict[str, Any] = await self._call(
            "POST", f"/api/runs/{run_id}/debug", json={"action": action, "node_id": node_id}
        )
        return result

    # --------------------------------------------------------------------------- deployments

    async def deploy(
        self, flow: Mapping[str, Any], *, activate: bool = True, confirm: bool = False
    ) -> Deployment:
        """A new version of the flow, or the latest one when the content is unchanged
        (`created` says which); an ApiError 422 with `body["issues"]` when it has errors, 409
        when anyone could start it (a webhook without a secret, a public endpoint) and
        `confirm` is not set."""
        body = {"flow": flow, "activate": activate, "confirm": confirm}
        result: Deployment = await self._call("POST", "/api/deployments", json=body)
        return result

    async def deployments(self, flow_id: str | None = None) -> list[Deployment]:
        params = {"flow_id": flow_id} if flow_id else {}
        body = await self._call("GET", "/api/deployments", params=params)
        result: list[Deployment] = body["deployments"]
        return result

    async def deployed_flow(self, flow_id: str, version: int | None = None) -> dict[str, Any]:
        """`{flow_id, version, flow}`: a deployed version's document, the active one by default."""
        params = {"version": version} if version is not None else {}
        result: dict[str, Any] = await self._call(
            "GET", f"/api/deployments/{flow_id}/flow", params=params
        )
        return result

    async def deployment_diff(self, flow_id: str, older: int, newer: int) -> str:
        """A unified diff between two deployed versions' flow files."""
        body = await self._call(
            "GET", f"/api/deployments/{flow_id}/diff", params={"from": older, "to": newer}
        )
        return str(body["diff"])

    async def activate(self, flow_id: str, version: int) -> None:
        await self._call("POST", f"/api/deployments/{flow_id}/activate", json={"version": version})

    async def deactivate(self, flow_id: str) -> None:
        await self._call("POST", f"/api/deployments/{flow_id}/deactivate")

    # ----------------------------------------------------------------------------- retention

    async def retention(self) -> dict[str, Any]:
        """`{keep_days, keep_runs}`: how much run data the server keeps (null: no limit)."""
        result: dict[str, Any] = await self._call("GET", "/api/retention")
        return result

    async def set_retention(
        self, keep_days: float | None = None, keep_runs: int | None = None
    ) -> dict[str, Any]:
        """Replace the retention (no argument: keep every run); an ApiError 422 names a bad
        value."""
        result: dict[str, Any] = await self._call(
            "PUT", "/api/retention", json={"keep_days": keep_days, "keep_runs": keep_runs}
        )
        return result

    async def prune_runs(self) -> dict[str, Any]:
        """Prune by the retention now: `{pruned, run_ids, keep_days, keep_runs}`; an ApiError
        409 when none is set."""
        result: dict[str, Any] = await self._call("POST", "/api/retention/prune")
        return result

    # ------------------------------------------------------------------------ administration

    async def workspaces(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._call("GET", "/api/workspaces"))["workspaces"]
        return result

    async def create_workspace(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/api/workspaces", json={"name": name})
        return result

    async def servers(self, workspace: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/api/workspaces/{workspace}/servers")
        result: list[dict[str, Any]] = body["servers"]
        return result

    async def add_server(self, workspace: str, name: str, config: Mapping[str, Any]) -> None:
        await self._call(
            "POST", f"/api/workspaces/{workspace}/servers", json={"name": name, "config": config}
        )

    async def set_server_enabled(
        self, workspace: str, name: str, enabled: bool, tool: str | None = None
    ) -> None:
        await self._call(
            "PATCH",
            f"/api/workspaces/{workspace}/servers/{name}",
            json={"enabled": enabled, "tool": tool},
        )

    async def remove_server(self, workspace: str, name: str) -> None:
        await self._call("DELETE", f"/api/workspaces/{workspace}/servers/{name}")

    async def tools(self, workspace: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/api/workspaces/{workspace}/tools")
        result: list[dict[str, Any]] = body["tools"]
        return result

    async def secrets(self, workspace: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/api/workspaces/{workspace}/secrets")
        result: list[dict[str, Any]] = body["secrets"]
        return result

    async def set_secret(self, workspace: str, name: str, value: str) -> None:
        await self._call(
            "PUT", f"/api/workspaces/{workspace}/secrets/{name}", json={"value": value}
        )

    async def delete_secret(self, workspace: str, name: str) -> None:
        await self._call("DELETE", f"/api/workspaces/{workspace}/secrets/{name}")

    async def tokens(self, workspace: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/api/workspaces/{workspace}/tokens")
        result: list[dict[str, Any]] = body["tokens"]
        return result

    async def create_token(
        self, workspace: str, member: str, role: str, expires_in_s: float | None = None
    ) -> dict[str, Any]:
        """The new token's record, with `token` (shown this once)."""
        result: dict[str, Any] = await self._call(
            "POST",
            f"/api/workspaces/{workspace}/tokens",
            json={"member": member, "role": role, "expires_in_s": expires_in_s},
        )
        return result

    async def revoke_token(self, workspace: str, token_id: str) -> None:
        await self._call("DELETE", f"/api/workspaces/{workspace}/tokens/{token_id}")

    async def usage(self, workspace: str, since: float | None = None) -> dict[str, Any]:
        params = {"since": since} if since is not None else {}
        result: dict[str, Any] = await self._call(
            "GET", f"/api/workspaces/{workspace}/usage", params=params
        )
        return result

    async def calls(self, workspace: str, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        body = await self._call("GET", f"/api/workspaces/{workspace}/calls", params=params)
        result: list[dict[str, Any]] = body["calls"]
        return result

    async def server_tools(self, workspace: str, name: str) -> dict[str, Any]:
        """Connect to one server and list its tools, switched off ones included: a connection
        test, so it waits as long as a slow server takes to start."""
        result: dict[str, Any] = await self._call(
            "GET",
            f"/api/workspaces/{workspace}/servers/{name}/tools",
            timeout=httpx2.Timeout(90),
        )
        return result

    async def client_config(
        self, workspace: str, editor: str, token: str | None = None
    ) -> dict[str, Any]:
        """`{editor, url, config, where}`: what an editor pastes (and into which file) to reach
        the workspace; with `token` in it, else a <TOKEN> placeholder."""
        result: dict[str, Any] = await self._call(
            "POST", f"/api/workspaces/{workspace}/client-config/{editor}", json={"token": token}
        )
        return result
