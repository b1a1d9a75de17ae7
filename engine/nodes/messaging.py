"""Messaging nodes: send_message, schedule_message, send_proactive, delegate_to_bot."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from engine.nodes.spec import Category, NodeConfig, NodeSpec, capped, expression, template


class Button(NodeConfig):
    label: str = template(description="Text on the button")
    value: str = template(description="What the user sends by pressing it")


class SendMessageConfig(NodeConfig):
    text: str = template(description="The message")
    buttons: list[Button] = Field(default_factory=list, description="Quick-reply buttons")


class ScheduleMessageConfig(NodeConfig):
    text: str = template(description="The message")
    delay_s: float | None = capped(None, 365 * 86400, "Send after this many seconds")
    at: str | None = expression(None, "Expression giving the ISO time to send at")

    @model_validator(mode="after")
    def _one_time(self) -> ScheduleMessageConfig:
        if (self.delay_s is None) == (self.at is None):
            raise ValueError("give exactly one of 'delay_s' or 'at'")
        return self


class SendProactiveConfig(NodeConfig):
    platform: str = Field(description="Chat platform: slack, teams, telegram, discord, webchat")
    bot: str = Field(description="The bot that sends the message")
    to: str = template(description="User or channel to write to")
    text: str = template(description="The message")


class DelegateConfig(NodeConfig):
    target: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Flow id or bot slug to run"
    )
    input: Any = template(default_factory=dict, description="The child run's input")
    context: Any = template(None, description="Context passed along with the input")
    timeout_s: float = capped(300, 86400, "Fail if the child has not finished by then", ge=1)


SPECS = (
    NodeSpec(
        type="send_message",
        title="Send message",
        description="Replies in the run's conversation, with optional buttons",
        category=Category.MESSAGING,
        icon="message",
        config_model=SendMessageConfig,
        side_effect=True,
        output=(
            "`{message_id}`; delivered to the run's conversation (studio chat, endpoint "
            "stream, bot channel)"
        ),
    ),
    NodeSpec(
        type="schedule_message",
        title="Schedule message",
        description="Waits on a durable timer, then sends a message",
        category=Category.MESSAGING,
        icon="clock",
        config_model=ScheduleMessageConfig,
        pauses=True,
        output="`{sent_at, message_id}`, after a durable timer",
    ),
    NodeSpec(
        type="send_proactive",
        title="Proactive message",
        description="Writes first to a user or channel on a chat platform",
        category=Category.MESSAGING,
        icon="send",
        config_model=SendProactiveConfig,
        outputs=("out", "error"),
        side_effect=True,
        output="`{message_id}`",
    ),
    NodeSpec(
        type="delegate_to_bot",
        title="Delegate",
        description="Runs another flow or bot and returns its output",
        category=Category.MESSAGING,
        icon="share",
        config_model=DelegateConfig,
        outputs=("out", "error"),
        side_effect=True,
        output="The child run's output; runs nest at most 3 deep",
    ),
)
