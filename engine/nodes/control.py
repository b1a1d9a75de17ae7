"""Triggers and flow control: trigger, logic, loop, parallel, error_handler, action."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import Field, field_validator, model_validator

from engine.nodes.spec import (
    Category,
    NodeConfig,
    NodeSpec,
    SecretRef,
    capped,
    expression,
    names,
    template,
)

HANDLE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


# ---------------------------------------------------------------------------------------- trigger


class WebhookSettings(NodeConfig):
    source: Literal["generic", "github", "stripe", "slack", "standard"] = Field(
        "generic", description="Who sends the webhook; selects the signature scheme"
    )
    events: list[str] = Field(
        default_factory=list, description="Event types to accept (empty: all)"
    )
    secret: SecretRef | None = Field(None, description="Vault secret holding the signing secret")


class ScheduleSettings(NodeConfig):
    cron: str = Field(description="Cron expression: minute hour day month weekday [second]")
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in")
    input: dict[str, Any] = Field(default_factory=dict, description="Payload given to each run")

    @field_validator("cron")
    @classmethod
    def _cron_shape(cls, value: str) -> str:
        fields = value.split()
        if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"'{value}' is not a cron expression of 5 or 6 fields")
        from croniter import croniter  # only flows with a schedule pay for the import

        if not croniter.is_valid(value):
            raise ValueError(f"'{value}' has a field out of range (e.g. minute 0-59, hour 0-23)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value != "UTC" and value not in _timezones():
            raise ValueError(f"'{value}' is not an IANA time zone such as Europe/Paris")
        return value


class EndpointSettings(NodeConfig):
    slug: str = Field(pattern=SLUG_PATTERN, description="URL name: POST /api/run/<slug>")
    auth: Literal["api_key", "public"] = Field("api_key", description="Who may call the endpoint")
    stream: bool = Field(False, description="Answer with the run's events as a stream by default")


class TriggerConfig(NodeConfig):
    kind: Literal["manual", "message", "webhook", "schedule", "endpoint"] = Field(
        "manual", description="What starts the run"
    )
    input_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema the input payload must satisfy"
    )
    webhook: WebhookSettings | None = Field(None, description="Webhook settings (kind webhook)")
    schedule: ScheduleSettings | None = Field(None, description="Schedule (kind schedule)")
    endpoint: EndpointSettings | None = Field(None, description="Endpoint (kind endpoint)")

    @model_validator(mode="after")
    def _settings_for_kind(self) -> TriggerConfig:
        if self.kind == "schedule" and self.schedule is None:
            raise ValueError("a schedule trigger needs 'schedule' with a cron expression")
        if self.kind == "endpoint" and self.endpoint is None:
            raise ValueError("an endpoint trigger needs 'endpoint' with a slug")
        return self


# ------------------------------------------------------------------------------------------ logic


class Case(NodeConfig):
    handle: str = Field(pattern=HANDLE_PATTERN, description="Output handle taken by this case")
    equals: Any = Field(None, description="Taken when the value equals this")
    when: str | None = expression(None, "Taken when this expression is true")

    @model_validator(mode="after")
    def _one_test(self) -> Case:
        if (self.when is None) == ("equals" not in self.model_fields_set):
            raise ValueError(f"case '{self.handle}' needs exactly one of 'equals' or 'when'")
        return self


class LogicConfig(NodeConfig):
    mode: Literal["if", "switch"] = Field("if", description="Two-way if, or a switch over cases")
    condition: str | None = expression(None, "If: the expression deciding true or false")
    value: str | None = expression(None, "Switch: the expression compared with each case")
    cases: list[Case] = Field(default_factory=list, description="Switch: cases tried in order")

    @model_validator(mode="after")
    def _fields_for_mode(self) -> LogicConfig:
        if self.mode == "if" and not self.condition:
            raise ValueError("an if needs a 'condition'")
        if self.mode == "switch":
            if not self.cases:
                raise ValueError("a switch needs at least one case")
            handles = [c.handle for c in self.cases]
            if len(set(handles)) != len(handles) or "default" in handles:
                raise ValueError("case handles must be unique and not 'default'")
            if self.value is None and any(c.when is None for c in self.cases):
                raise ValueError("cases with 'equals' need the switch's 'value'")
        return self


def _logic_handles(config: Mapping[str, Any]) -> list[str]:
    """`true` and `false` (if), or each case's `handle` then `default` (switch)."""
    if config.get("mode", "if") == "switch":
        return [*names(config, "cases", "handle"), "default"]
    return ["true", "false"]


# ------------------------------------------------------------------------------- loop, parallel


class LoopConfig(NodeConfig):
    items: str = expression(description="Expression giving the list to iterate over")
    item_var: str = Field("item", pattern=r"^[A-Za-z_]\w*$", description="Variable for the item")
    index_var: str = Field("index", pattern=r"^[A-Za-z_]\w*$", description="Variable for the index")
    max_iterations: int = capped(100, 10000, "Stop with an error past this many items", ge=1)
    concurrency: int = capped(1, 64, "How many iterations run at once", ge=1)


def _loop_body(config: Mapping[str, Any]) -> list[str]:
    """`body`: the nodes it enters run once per item."""
    return ["body"]


def _loop_variables(config: Mapping[str, Any]) -> list[str]:
    """The names in `item_var` and `index_var` (default `item`, `index`), inside the body."""
    return [str(config.get("item_var", "item")), str(config.get("index_var", "index"))]


class ParallelConfig(NodeConfig):
    branches: list[str] = Field(
        min_length=1, description="Names of the branches; each is an output handle"
    )
    wait: Literal["all", "any"] = Field(
        "all", description="Finish when all branches finish, or at the first (cancel the rest)"
    )
    timeout_s: float | None = Field(None, gt=0, description="Fail unfinished branches after this")

    @field_validator("branches")
    @classmethod
    def _branch_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(HANDLE_PATTERN, name) or name == "done":
                raise ValueError(f"'{name}' is not a branch name ([A-Za-z0-9_-], not 'done')")
        if len(set(value)) != len(value):
            raise ValueError("branch names must be unique")
        return value


def _parallel_branches(config: Mapping[str, Any]) -> list[str]:
    """One handle per name in `branches`, each the start of a scope."""
    return names(config, "branches")


# -------------------------------------------------------------------------------- error_handler


class ErrorHandlerConfig(NodeConfig):
    scope: Literal["all"] | list[str] = Field(
        "all", description="The node ids whose failures this handles, or all"
    )
    mark_run: Literal["failed", "succeeded"] = Field(
        "failed", description="The run's status after the handler finishes"
    )


# ---------------------------------------------------------------------------------------- action


class HttpAuth(NodeConfig):
    scheme: Literal["bearer", "basic", "header"] = Field(description="How the secret is sent")
    secret: SecretRef = Field(description="Vault secret: token, password or header value")
    username: str | None = Field(None, description="Basic auth user name")
    header: str | None = Field(None, description="Header name for scheme 'header'")


class HttpRequest(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        "GET", description="HTTP method"
    )
    url: str = template(description="URL to call")
    headers: dict[str, str | SecretRef] = template(
        default_factory=dict, description="Request headers; values may be secret references"
    )
    query: dict[str, Any] = template(default_factory=dict, description="Query parameters")
    body: Any = template(None, description="JSON body")
    auth: HttpAuth | None = Field(None, description="Authentication from a vault secret")


class SetVariables(NodeConfig):
    values: dict[str, Any] = template(description="Variables to set, by name")

    @field_validator("values")
    @classmethod
    def _identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not re.match(r"^[A-Za-z_]\w*$", k)]
        if bad:
            raise ValueError(f"variable names must be identifiers: {', '.join(bad)}")
        return value


class End(NodeConfig):
    output: Any = template(None, description="The run's output")
    status: Literal["succeeded", "failed"] = Field("succeeded", description="The run's status")


class ActionConfig(NodeConfig):
    action: Literal["http_request", "set_variables", "end"] = Field(
        description="What this action does"
    )
    http_request: HttpRequest | None = Field(None, description="The request (http_request)")
    set_variables: SetVariables | None = Field(None, description="The values (set_variables)")
    end: End | None = Field(None, description="How the run ends (end)")

    @model_validator(mode="after")
    def _settings_for_action(self) -> ActionConfig:
        if self.action != "end" and getattr(self, self.action) is None:
            raise ValueError(f"action '{self.action}' needs its '{self.action}' settings")
        return self


def _calls_http(config: Mapping[str, Any]) -> bool:
    """Only `http_request` has a side effect."""
    return config.get("action") == "http_request"


def _action_variables(config: Mapping[str, Any]) -> list[str]:
    """set_variables: the names in `values`."""
    settings = config.get("set_variables") if config.get("action") == "set_variables" else None
    values = settings.get("values") if isinstance(settings, Mapping) else None
    return [k for k in values if isinstance(k, str)] if isinstance(values, Mapping) else []


SPECS = (
    NodeSpec(
        type="trigger",
        title="Trigger",
        description="Starts the run: by hand, a chat message, a webhook, a schedule or an endpoint",
        category=Category.TRIGGER,
        icon="bolt",
        config_model=TriggerConfig,
        has_input=False,
        output=(
            "The input payload; a message trigger's: `text`, `user_id`, `user_name`, `channel_id`, "
            "`platform`, `conversation_id`"
        ),
    ),
    NodeSpec(
        type="logic",
        title="Logic",
        description="Branches on a condition (if) or on a value (switch)",
        category=Category.FLOW,
        icon="git-branch",
        config_model=LogicConfig,
        outputs=(),
        dynamic_outputs=_logic_handles,
        output="`{handle, value}`",
    ),
    NodeSpec(
        type="loop",
        title="Loop",
        description="Runs its body once per item of a list, in order or concurrently",
        category=Category.FLOW,
        icon="repeat",
        config_model=LoopConfig,
        outputs=("body", "done"),
        scope_outputs=_loop_body,
        variables=_loop_variables,
        output="`{results: [...], count}`",
    ),
    NodeSpec(
        type="parallel",
        title="Parallel",
        description="Runs named branches at once and waits for all or the first",
        category=Category.FLOW,
        icon="columns",
        config_model=ParallelConfig,
        outputs=("done",),
        dynamic_outputs=_parallel_branches,
        scope_outputs=_parallel_branches,
        output="`{results: {branch: value}, errors: {branch: error}}`",
    ),
    NodeSpec(
        type="error_handler",
        title="Error handler",
        description="Runs when a node in its scope fails and nothing else handles it",
        category=Category.FLOW,
        icon="shield-alert",
        config_model=ErrorHandlerConfig,
        has_input=False,
        output="`{error}`: the failure it handles; it has no incoming edges",
    ),
    NodeSpec(
        type="action",
        title="Action",
        description="Calls an HTTP API, sets variables, or ends the run",
        category=Category.TOOLS,
        icon="play",
        config_model=ActionConfig,
        outputs=("out", "error"),
        side_effect=_calls_http,
        variables=_action_variables,
        output=(
            "http_request: `{status, headers, json, text}`; set_variables: the values set; "
            "end: finishes the run with `output` and `status`"
        ),
    ),
)
