"""What a node executor sees: its config rendered against the run's scope, and the run's services.

Executors are `async def execute(ctx: NodeContext, config) -> Outcome`, all through the same
context: `ctx.services` carries the tool gateway, secret lookup, LLM registry, message sink, mail,
flows and child runs; `ctx.pause` waits for a person's answer (durably in a DBOS run,
docs/durability.md); `ctx.emit` adds the node's events (deltas, tool calls, messages).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.flow import Flow, Node
from engine.flow.expressions import evaluate, render_value
from engine.run.events import EventLog
from engine.tools import SecretLookup, ToolGateway

if TYPE_CHECKING:
    from engine.llm import LlmRegistry


@dataclass(frozen=True)
class OutboundMessage:
    """A message a run sends: into its own conversation, or (`send_proactive`) first, to a user
    or channel of a bot on a chat platform."""

    text: str
    buttons: tuple[Mapping[str, str], ...] = ()
    platform: str | None = None
    bot: str | None = None
    to: str | None = None


class MessageSink(Protocol):
    """Where messages go: the run's conversation (studio chat, endpoint stream) when absent,
    bot adapters when the runtime has them. Returns the message id."""

    async def send(self, run_id: str, message: OutboundMessage) -> str: ...


class FlowSource(Protocol):
    """The flows a runtime knows by id or slug (`delegate_to_bot` targets)."""

    def find(self, target: str) -> Flow: ...


class ChildRuns(Protocol):
    """Runs another flow for a node and returns its output (`delegate_to_bot`)."""

    async def run_child(
        self,
        parent: NodeContext,
        find: Callable[[], Flow],
        payload: Any,
        context: Any,
        timeout_s: float,
    ) -> Any:
        """The child run's `RunResult`, starting it with the flow `find` gives unless it was
        started before a restart; TimeoutError (the child cancelled) when time is up."""


@dataclass
class Services:
    """Everything outside the flow a run may use. Any of them may be absent in a given runtime."""

    secrets: SecretLookup | None = None
    tools: ToolGateway | None = None
    llm: Any = None
    messages: MessageSink | None = None
    mail: Any = None
    flows: FlowSource | None = None
    children: ChildRuns | None = None
    clock: Callable[[], float] = time.time

    def llm_registry(self) -> LlmRegistry:
        """The model registry, created on first use with the runtime's vault."""
        if self.llm is None:
            from engine.llm import LlmRegistry

            self.llm = LlmRegistry(self.secrets)
        registry: LlmRegistry = self.llm
        return registry

    def tool_gateway(self) -> ToolGateway:
        """The tool gateway: the data directory's workspace gateway unless the runtime was given
        one (its vault then answers the run's secrets too)."""
        if self.tools is None:
            from engine.gateway import open_gateway

            gateway = open_gateway()
            self.tools = gateway
            if self.secrets is None:
                self.secrets = gateway.vault
        return self.tools


@dataclass(frozen=True)
class Outcome:
    """What a node did: the handle it took, its output, and variables it sets."""

    handle: str
    output: Any = None
    variables: Mapping[str, Any] = field(default_factory=dict)


class Recorder(Protocol):
    """Keeps what must not happen twice (see engine.run.recorder)."""

    def recorded(self, key: str) -> Any: ...

    async def commit(self, key: str, record: Any) -> Any: ...

    def post(self, message: dict[str, Any], node_id: str | None = None) -> None: ...

    async def wait_message(
        self, node_id: str, key: str, timeout_s: float | None
    ) -> dict[str, Any] | None: ...

    async def sleep(self, key: str, seconds: float, node_id: str = "") -> None: ...


@dataclass
class NodeContext:
    """One execution of one node."""

    run_id: str
    node: Node
    key: str
    scope: Mapping[str, Any]
    attempt: int
    events: EventLog
    services: Services
    recorder: Recorder
    flow_llm: Any = None
    depth: int = 0

    def render(self, value: Any) -> Any:
        """Render templates inside a config value against the run's scope."""
        return render_value(value, self.scope)

    def evaluate(self, expression: str) -> Any:
        return evaluate(expression, self.scope)

    def emit(self, event_type: str, **fields: Any) -> None:
        self.events.emit(event_type, node_id=self.node.id, **fields)

    @property
    def workspace(self) -> str:
        """The workspace whose tools, secrets and functions the flow uses ("" if none)."""
        return str(self.scope.get("run", {}).get("workspace") or "")

    async def secret(self, name: str) -> str:
        if self.services.secrets is None:
            raise LookupError(f"secret '{name}' is needed but this runtime has no vault")
        value = await self.services.secrets.get_secret(self.workspace, name)
        self.events.redactor.add([value])  # a value rotated since the run started included
        return value

    async def pause(
        self, kind: str, prompt: str, timeout_s: float | None, step: str = "", **shown: Any
    ) -> dict[str, Any] | None:
        """Wait for a message to this run (a decision or a code); None when the time is up.
        `step` names one of several waits inside the node (each answered once); `shown` goes
        into the run_paused event for whoever answers (a review's details and form)."""
        self.emit("run_paused", kind=kind, prompt=prompt, **shown)
        wait_key = f"{self.key}#{step}" if step else self.key
        message = await self.recorder.wait_message(self.node.id, wait_key, timeout_s)
        self.emit("run_resumed", kind=kind)
        return message

    async def once(self, step: str, compute: Callable[[], Awaitable[Any]]) -> Any:
        """Run a step of this node once per run: after a restart, its recorded JSON result is
        returned instead (an agent's turns and tool calls)."""
        from engine.run.store import Record

        key = f"{self.key}#{step}"
        recorded = self.recorder.recorded(key)
        if recorded is not None:
            return recorded.output
        output = self.events.redactor.value(await compute())
        record = await self.recorder.commit(key, Record(self.node.id, step, output, {}, 0.0))
        return record.output

    async def sleep(self, seconds: float) -> None:
        """A durable timer: after a restart it fires at the time first set; a message posted to
        this node fires it at once (debugging a flow that waits hours)."""
        await self.recorder.sleep(self.key, seconds, self.node.id)
