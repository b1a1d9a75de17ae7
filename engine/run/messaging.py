"""Executors of the messaging nodes: send_message, schedule_message, send_proactive and
delegate_to_bot. Messages go through the runtime's message sink when it has one (bot adapters);
otherwise the run's conversation is its event stream (`message` events: the studio's chat panel,
an endpoint's SSE stream)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from engine.flow import Flow
from engine.nodes.messaging import (
    DelegateConfig,
    ScheduleMessageConfig,
    SendMessageConfig,
    SendProactiveConfig,
)
from engine.run.context import NodeContext, OutboundMessage, Outcome
from engine.run.errors import LimitError, NodeError, NodeTimeout
from engine.run.executors import executor

MAX_DELEGATION_DEPTH = 3


async def deliver(ctx: NodeContext, message: OutboundMessage) -> str:
    """Send a message and emit its `message` event; returns the message id."""
    sink = ctx.services.messages
    message_id = (
        await sink.send(ctx.run_id, message) if sink is not None else f"{ctx.run_id}:{ctx.key}"
    )
    target = {"platform": message.platform, "bot": message.bot, "to": message.to}
    ctx.emit(
        "message",
        key=ctx.key,
        text=message.text,
        buttons=[dict(b) for b in message.buttons],
        message_id=message_id,
        **({k: v for k, v in target.items() if v is not None}),
    )
    return message_id


@executor("send_message")
async def run_send_message(ctx: NodeContext, config: SendMessageConfig) -> Outcome:
    buttons = tuple(
        {"label": str(ctx.render(b.label)), "value": str(ctx.render(b.value))}
        for b in config.buttons
    )
    message_id = await deliver(ctx, OutboundMessage(str(ctx.render(config.text)), buttons))
    return Outcome("out", {"message_id": message_id})


@executor("schedule_message")
async def run_schedule_message(ctx: NodeContext, config: ScheduleMessageConfig) -> Outcome:
    if config.delay_s is not None:
        delay = config.delay_s
    else:
        when = str(ctx.evaluate(config.at or ""))
        try:
            due = datetime.fromisoformat(when)
        except ValueError:
            raise NodeError(f"at: '{when}' is not an ISO date and time") from None
        due = due if due.tzinfo else due.replace(tzinfo=UTC)
        delay = max(0.0, due.timestamp() - time.time())
    ctx.emit("run_paused", kind="timer", prompt=f"sending in {delay:g} s")
    await ctx.sleep(delay)
    ctx.emit("run_resumed", kind="timer")
    message_id = await deliver(ctx, OutboundMessage(str(ctx.render(config.text))))
    return Outcome("out", {"sent_at": datetime.now(UTC).isoformat(), "message_id": message_id})


@executor("send_proactive")
async def run_send_proactive(ctx: NodeContext, config: SendProactiveConfig) -> Outcome:
    to = str(ctx.render(config.to)).strip()
    if not to:
        raise NodeError("to: the recipient is empty")
    message = OutboundMessage(
        str(ctx.render(config.text)), platform=config.platform, bot=config.bot, to=to
    )
    try:
        message_id = await deliver(ctx, message)
    except LookupError as exc:  # the sink has no such bot or platform
        raise NodeError(str(exc)) from None
    return Outcome("out", {"message_id": message_id})


@executor("delegate_to_bot")
async def run_delegate(ctx: NodeContext, config: DelegateConfig) -> Outcome:
    if ctx.depth >= MAX_DELEGATION_DEPTH:
        raise LimitError(
            f"delegation depth {MAX_DELEGATION_DEPTH} reached: '{config.target}' is not started"
        )
    if ctx.services.children is None:
        raise NodeError("this runtime cannot start other flows")
    flows = ctx.services.flows

    def find() -> Flow:
        if flows is None:
            raise LookupError(f"no flow '{config.target}' is known to this runtime")
        child = flows.find(config.target)
        if child.workspace and child.workspace != ctx.workspace:
            # its vault and servers are its workspace's: not for a flow of another one
            here = f"workspace '{ctx.workspace}'" if ctx.workspace else "no workspace"
            raise LookupError(
                f"'{config.target}' is a flow of workspace '{child.workspace}'; a flow of "
                f"{here} may start only flows of its own workspace or of none"
            )
        return child

    payload, context = ctx.render(config.input), ctx.render(config.context)
    try:
        result: Any = await ctx.services.children.run_child(
            ctx, find, payload, context, config.timeout_s
        )
    except LookupError as exc:
        raise NodeError(str(exc)) from None
    except ValueError as exc:  # the target does not validate, or has no such trigger
        raise NodeError(f"'{config.target}': {exc}") from None
    except TimeoutError:
        raise NodeTimeout(
            f"'{config.target}' did not finish within timeout_s ({config.timeout_s:g} s)"
        ) from None
    if result.status != "succeeded":
        reason = (result.error or {}).get("message") or result.status
        raise NodeError(f"'{config.target}' {result.status}: {reason}")
    return Outcome("out", result.output)
