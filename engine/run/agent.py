"""The `agent_loop` executor: ReAct over the workspace's allowed tools.

Each model turn and each tool call is recorded on its own (`ctx.once`), so after a crash the
loop picks up where it was: finished turns and calls are not repeated. Tools that need approval
(by default those annotated destructive) pause the run first; a refusal is told to the model.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from engine.llm import LlmError, LlmRequest, LlmResponse, Message, ToolOutput, ToolSpec, Usage
from engine.nodes.ai import AgentLoopConfig
from engine.run.ai_executors import LlmNodeError
from engine.run.context import NodeContext, Outcome
from engine.run.executors import executor
from engine.tools import ToolInfo, ToolResult


def _allowed(tools: list[ToolInfo], names: list[str]) -> list[ToolInfo]:
    return tools if "*" in names else [t for t in tools if t.name in names]


def _needs_approval(tool: ToolInfo | None, config: AgentLoopConfig) -> bool:
    if config.approval_required_for is not None:
        return tool is not None and tool.name in config.approval_required_for
    return tool is not None and tool.destructive


class _Loop:
    def __init__(self, ctx: NodeContext, config: AgentLoopConfig, tools: list[ToolInfo]) -> None:
        self.ctx, self.config = ctx, config
        self.tools = {t.name: t for t in tools}
        self.calls: list[dict[str, Any]] = []
        self.usage = Usage()
        self.iterations = 0
        self.requested = 0

    def output(self, text: str) -> dict[str, Any]:
        return {
            "text": text,
            "tool_calls": self.calls,
            "iterations": self.iterations,
            "usage": self.usage.model_dump(),
        }

    async def turn(self, llm: Any, request: LlmRequest) -> LlmResponse:
        async def ask() -> Any:
            response = await llm.complete(
                request, lambda text: self.ctx.emit("node_delta", key=self.ctx.key, text=text)
            )
            return response.model_dump(mode="json", by_alias=True)

        recorded = await self.ctx.once(f"turn{self.iterations}", ask)
        response = LlmResponse.model_validate(recorded)
        self.usage = Usage(
            input_tokens=self.usage.input_tokens + response.usage.input_tokens,
            output_tokens=self.usage.output_tokens + response.usage.output_tokens,
        )
        return response

    async def call(self, number: int, name: str, arguments: dict[str, Any]) -> ToolResult:
        ctx = self.ctx
        tool = self.tools.get(name)
        if tool is None:
            return ToolResult(text=f"no tool '{name}' is available to this agent", is_error=True)
        if _needs_approval(tool, self.config):
            answer = await ctx.pause(
                "approval",
                f"Allow {name} with {json.dumps(arguments, default=str)}?",
                None,
                step=f"approve{number}",
            )
            if not answer or answer.get("decision") not in ("approve", "approved"):
                return ToolResult(text=f"a person declined the call to {name}", is_error=True)

        async def run() -> Any:
            ctx.emit("tool_call", key=ctx.key, tool=name, arguments=arguments)
            start = time.perf_counter()
            result = await ctx.services.tool_gateway().call_tool(
                ctx.workspace, name, arguments, caller=f"run:{ctx.run_id}"
            )
            ctx.emit("tool_result", key=ctx.key, tool=name, is_error=result.is_error)
            return {**asdict(result), "latency_ms": round((time.perf_counter() - start) * 1e3, 1)}

        recorded = dict(await ctx.once(f"call{number}", run))
        latency = recorded.pop("latency_ms")
        result = ToolResult(**recorded)
        self.calls.append(
            {
                "tool": name,
                "arguments": arguments,
                "is_error": result.is_error,
                "latency_ms": latency,
            }
        )
        return result


@executor("agent_loop")
async def run_agent_loop(ctx: NodeContext, config: AgentLoopConfig) -> Outcome:
    try:
        llm = await ctx.services.llm_registry().resolve(
            provider=config.provider,
            model=config.model,
            flow_llm=ctx.flow_llm,
            workspace=ctx.workspace,
        )
    except LlmError as exc:
        raise LlmNodeError(exc) from None
    tools = _allowed(await ctx.services.tool_gateway().list_tools(ctx.workspace), config.tools)
    loop = _Loop(ctx, config, tools)
    messages = [Message.user(str(ctx.render(config.goal)))]
    specs = tuple(ToolSpec.from_info(t) for t in tools)
    while loop.iterations < config.max_iterations:
        loop.iterations += 1
        request = LlmRequest(
            system=str(ctx.render(config.system)), messages=tuple(messages), tools=specs
        )
        try:
            response = await loop.turn(llm, request)
        except LlmError as exc:
            raise LlmNodeError(exc) from None
        messages.append(response.to_message())
        if not response.tool_calls:
            return Outcome("out", loop.output(response.text))
        outputs = []
        for call in response.tool_calls:
            if loop.requested >= config.max_tool_calls:
                return Outcome(
                    "exhausted",
                    loop.output(f"stopped: max_tool_calls ({config.max_tool_calls}) reached"),
                )
            loop.requested += 1
            result = await loop.call(loop.requested, call.name, call.arguments)
            outputs.append(ToolOutput.from_result(call, result))
        messages.append(Message.tool(outputs))
    return Outcome(
        "exhausted", loop.output(f"stopped: max_iterations ({config.max_iterations}) reached")
    )
