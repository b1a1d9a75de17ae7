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
    flow: dict[str, Any]


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
        body = response.json() if response.content else None
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
