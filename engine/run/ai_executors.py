"""Executors of the AI nodes llm_call, confidence_router and mcp_tool. They are thin: the model
work is `engine.llm`'s (`ask`, `classify`), the tool work the ToolGateway's."""

from __future__ import annotations

import re
from typing import Any

from engine.llm import LlmError, ask, classify, messages_from_history
from engine.nodes.ai import ConfidenceRouterConfig, LlmCallConfig, Route
from engine.nodes.tools import McpToolConfig
from engine.run.context import NodeContext, Outcome
from engine.run.errors import NodeError
from engine.run.executors import executor


class LlmNodeError(NodeError):
    """A model could not answer; `kind` is the LLM layer's (llm_config, llm_api, ...)."""

    def __init__(self, error: LlmError) -> None:
        super().__init__(str(error))
        self.kind = error.kind


@executor("llm_call")
async def run_llm_call(ctx: NodeContext, config: LlmCallConfig) -> Outcome:
    try:
        llm = await ctx.services.llm_registry().resolve(
            provider=config.provider,
            model=config.model,
            flow_llm=ctx.flow_llm,
            workspace=ctx.workspace,
        )
        history = messages_from_history(ctx.evaluate(config.history)) if config.history else ()
        response = await ask(
            llm,
            str(ctx.render(config.prompt)),
            system=str(ctx.render(config.system)),
            history=history,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            output_schema=config.output_schema,
            stream=config.stream,
            on_delta=lambda text: ctx.emit("node_delta", key=ctx.key, text=text),
        )
    except LlmError as exc:
        raise LlmNodeError(exc) from None
    return Outcome("out", response.output())


_WORD = re.compile(r"[a-z0-9]+")


def _keyword_score(text: str, route: Route) -> float:
    """Share of a route's keywords (or description words) found in the text, 0..1."""
    words = set(_WORD.findall(text.lower()))
    lowered = text.lower()
    keywords = route.keywords or [w for w in _WORD.findall(route.description.lower()) if len(w) > 3]
    if not keywords:
        return 0.0
    hits = sum((k.lower() in lowered) if " " in k else (k.lower() in words) for k in keywords)
    return min(1.0, hits / max(1, min(len(keywords), 3)))


@executor("confidence_router")
async def run_confidence_router(ctx: NodeContext, config: ConfidenceRouterConfig) -> Outcome:
    text = str(ctx.render(config.input))
    if config.method == "keywords":
        scores = [(_keyword_score(text, route), route) for route in config.routes]
        confidence, best = max(scores, key=lambda pair: pair[0])
        model = "keywords"
    else:
        try:
            llm = await ctx.services.llm_registry().resolve(
                provider=config.provider,
                model=config.model,
                flow_llm=ctx.flow_llm,
                workspace=ctx.workspace,
            )
            found = await classify(llm, text, [(r.name, r.description) for r in config.routes])
        except LlmError as exc:
            raise LlmNodeError(exc) from None
        best = next(r for r in config.routes if r.name == found.route)
        confidence, model = found.confidence, found.model
    route_model = best.model
    output: dict[str, Any] = {
        "route": best.name,
        "confidence": round(confidence, 3),
        "model": model,
    }
    handle = best.name if confidence >= config.threshold else "low_confidence"
    return Outcome(handle, output, variables={"route_model": route_model})


@executor("mcp_tool")
async def run_mcp_tool(ctx: NodeContext, config: McpToolConfig) -> Outcome:
    arguments = ctx.render(config.arguments)
    ctx.emit("tool_call", key=ctx.key, tool=config.tool, arguments=arguments)
    try:
        result = await ctx.services.tool_gateway().call_tool(
            ctx.workspace, config.tool, arguments, caller=f"run:{ctx.run_id}"
        )
    except LookupError as exc:
        raise NodeError(str(exc)) from None
    output = {
        "text": result.text,
        "content": result.content,
        "structured": result.structured,
        "is_error": result.is_error,
    }
    ctx.emit("tool_result", key=ctx.key, tool=config.tool, is_error=result.is_error)
    if result.is_error:
        raise NodeError(f"{config.tool} answered with an error: {result.text[:500]}")
    return Outcome("out", output)
