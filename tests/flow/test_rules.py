"""Every rule of docs/flows.md §5: a flow that triggers it, and a close one that does not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.flow import Flow, Issue, validate
from engine.flow.validate import CODES
from tests.flow.builders import chain, edge, end, flow, node, set_vars, trigger

LOGIC_IF = {"mode": "if", "condition": "input.n > 1"}
LOOP = {"items": "input.rows"}
TOOLS = {
    "tickets__create_ticket": {
        "type": "object",
        "properties": {"title": {"type": "string"}, "priority": {"type": "integer"}},
        "required": ["title"],
        "additionalProperties": False,
    }
}


def _mcp(arguments: dict) -> Flow:
    return chain(
        trigger(),
        node("file", "mcp_tool", {"tool": "tickets__create_ticket", "arguments": arguments}),
    )


def _loop_flow(extra_edge: bool) -> Flow:
    nodes = [
        trigger(),
        node("each", "loop", LOOP),
        set_vars("body", seen="{{ vars.item }}"),
        end("after"),
    ]
    edges = [edge("start", "each"), edge("each", "body", "body"), edge("each", "after", "done")]
    if extra_edge:
        edges.append(edge("after", "body"))
    return flow(nodes, edges)


def _if_flow(handle: str) -> Flow:
    return flow(
        [trigger(), node("check", "logic", LOGIC_IF), end("yes")],
        [edge("start", "check"), edge("check", "yes", handle)],
    )


# (code, flow that triggers it, flow that does not, tools catalog or None)
CASES: list[tuple[str, Callable[[], Flow], Callable[[], Flow], dict | None]] = [
    (
        "node.unknown_type",
        lambda: chain(trigger(), node("x", "teleport")),
        lambda: chain(trigger(), end("x")),
        None,
    ),
    (
        "config.invalid",
        lambda: chain(trigger(), node("x", "logic", {"mode": "if"})),
        lambda: chain(trigger(), node("x", "logic", LOGIC_IF)),
        None,
    ),
    (
        "config.unknown_node",
        lambda: chain(trigger(), end("a"), node("h", "error_handler", {"scope": ["ghost"]})),
        lambda: flow(
            [trigger(), end("a"), node("h", "error_handler", {"scope": ["a"]})],
            [edge("start", "a")],
        ),
        None,
    ),
    (
        "node.duplicate_id",
        lambda: flow([trigger(), end("a"), end("a")], [edge("start", "a")]),
        lambda: flow([trigger(), end("a"), end("b")], [edge("start", "a"), edge("start", "b")]),
        None,
    ),
    (
        "edge.duplicate_id",
        lambda: flow(
            [trigger(), end("a"), end("b")],
            [edge("start", "a", edge_id="e"), edge("start", "b", edge_id="e")],
        ),
        lambda: flow(
            [trigger(), end("a"), end("b")],
            [edge("start", "a", edge_id="e1"), edge("start", "b", edge_id="e2")],
        ),
        None,
    ),
    (
        "note.duplicate_id",
        lambda: flow([trigger()], [], notes=[{"id": "n", "text": "a"}, {"id": "n", "text": "b"}]),
        lambda: flow([trigger()], [], notes=[{"id": "n1", "text": "a"}, {"id": "n2"}]),
        None,
    ),
    (
        "edge.unknown_node",
        lambda: flow([trigger()], [edge("start", "ghost")]),
        lambda: chain(trigger(), end("real")),
        None,
    ),
    ("edge.unknown_handle", lambda: _if_flow("maybe"), lambda: _if_flow("true"), None),
    (
        "edge.duplicate",
        lambda: flow(
            [trigger(), end("a")],
            [edge("start", "a", edge_id="e1"), edge("start", "a", edge_id="e2")],
        ),
        lambda: flow([trigger(), end("a")], [edge("start", "a", edge_id="e1")]),
        None,
    ),
    (
        "edge.into_trigger",
        lambda: flow([trigger(), trigger("second")], [edge("start", "second")]),
        lambda: flow([trigger(), trigger("second")], []),
        None,
    ),
    (
        "edge.into_error_handler",
        lambda: chain(trigger(), node("h", "error_handler")),
        lambda: flow([trigger(), node("h", "error_handler")], []),
        None,
    ),
    ("flow.no_trigger", lambda: flow([end("a")], []), lambda: chain(trigger(), end("a")), None),
    (
        "flow.bad_workspace",
        lambda: chain(trigger(), end("a")).model_copy(update={"workspace": "../x"}),
        lambda: chain(trigger(), end("a")).model_copy(update={"workspace": "support-team"}),
        None,
    ),
    (
        "graph.cycle",
        lambda: flow(
            [trigger(), set_vars("a", x=1), set_vars("b", y=2)],
            [edge("start", "a"), edge("a", "b"), edge("b", "a")],
        ),
        lambda: flow(
            [trigger(), set_vars("a", x=1), set_vars("b", y=2)],
            [edge("start", "a"), edge("a", "b")],
        ),
        None,
    ),
    (
        "node.unreachable",
        lambda: flow([trigger(), end("lonely")], []),
        lambda: chain(trigger(), end("lonely")),
        None,
    ),
    (
        "scope.crossing",
        lambda: _loop_flow(extra_edge=True),
        lambda: _loop_flow(extra_edge=False),
        None,
    ),
    (
        "expr.syntax",
        lambda: chain(trigger(), end("a", "{{ input.x + }}")),
        lambda: chain(trigger(), end("a", "{{ input.x + 1 }}")),
        None,
    ),
    (
        "expr.unknown_node",
        lambda: chain(trigger(), end("a", "{{ nodes.ghost.text }}")),
        lambda: chain(trigger(), set_vars("s", x=1), end("a", "{{ nodes.s.x }}")),
        None,
    ),
    (
        "expr.not_upstream",
        lambda: flow(
            [trigger(), set_vars("s", x=1), end("a", "{{ nodes.s.x }}")],
            [edge("start", "a"), edge("start", "s")],
        ),
        lambda: chain(trigger(), set_vars("s", x=1), end("a", "{{ nodes.s.x }}")),
        None,
    ),
    (
        "expr.var_unset",
        lambda: chain(trigger(), end("a", "{{ vars.total }}")),
        lambda: chain(trigger(), set_vars("s", total=3), end("a", "{{ vars.total }}")),
        None,
    ),
    (
        "expr.unknown_name",
        lambda: chain(trigger(), end("a", "{% for x in input.rows %}{{ item }}{% endfor %}")),
        lambda: chain(trigger(), end("a", "{% for x in input.rows %}{{ x }}{% endfor %}")),
        None,
    ),
    (
        "expr.changes_data",
        lambda: chain(trigger(), end("a", "{{ input.update({'x': 1}) }}")),
        lambda: chain(trigger(), end("a", "{{ input.get('x', 1) }}")),
        None,
    ),
    (
        "expr.method_on_data",
        lambda: chain(trigger(), end("a", "{{ input.items() | list }}")),
        lambda: chain(trigger(), end("a", "{{ input | items | list }}")),
        None,
    ),
    (
        "code.syntax",
        lambda: chain(trigger(), node("c", "code_block", {"code": "def helper(:\n  pass"})),
        lambda: chain(
            trigger(),
            node("c", "code_block", {"code": "def main(input, vars, nodes):\n    return 1\n"}),
        ),
        None,
    ),
    (
        "tool.unknown",
        lambda: chain(trigger(), node("t", "mcp_tool", {"tool": "tickets__delete_everything"})),
        lambda: _mcp({"title": "Disk full"}),
        TOOLS,
    ),
    (
        "tool.bad_arguments",
        lambda: _mcp({"priority": "high"}),
        lambda: _mcp({"title": "{{ input.summary }}", "priority": 2}),
        TOOLS,
    ),
    (
        "trigger.unsigned_webhook",
        lambda: chain(trigger(kind="webhook", webhook={"source": "generic"})),
        lambda: chain(
            trigger(kind="webhook", webhook={"source": "generic", "secret": {"secret": "HOOK"}})
        ),
        None,
    ),
    (
        "trigger.public_endpoint",
        lambda: chain(trigger(kind="endpoint", endpoint={"slug": "open", "auth": "public"})),
        lambda: chain(trigger(kind="endpoint", endpoint={"slug": "open"})),
        None,
    ),
    (
        "limit.above_cap",
        lambda: chain(trigger(), node("each", "loop", {**LOOP, "max_iterations": 20000})),
        lambda: chain(trigger(), node("each", "loop", {**LOOP, "max_iterations": 10000})),
        None,
    ),
]


def _codes(issues: list[Issue]) -> set[str]:
    return {issue.code for issue in issues}


@pytest.mark.parametrize(("code", "bad", "good", "tools"), CASES, ids=[c[0] for c in CASES])
def test_rule_is_reported_only_when_broken(code, bad, good, tools):
    assert code in _codes(validate(bad(), tools=tools))
    assert code not in _codes(validate(good(), tools=tools))


def test_every_issue_code_has_a_case():
    covered = {case[0] for case in CASES} | {"flow.load"}
    assert covered == set(CODES)


def test_cycle_message_names_its_nodes():
    issues = validate(CASES[[c[0] for c in CASES].index("graph.cycle")][1]())
    cycle = next(i for i in issues if i.code == "graph.cycle")
    assert "a" in cycle.message and "b" in cycle.message and "→" in cycle.message


def test_config_issue_names_the_field():
    issues = validate(chain(trigger(), node("x", "loop", {"items": "input.rows", "speed": 3})))
    (issue,) = [i for i in issues if i.code == "config.invalid"]
    assert (issue.node_id, issue.field) == ("x", "speed")
    assert "unknown field 'speed'" in issue.message


@pytest.mark.parametrize("cron", ["61 * * * *", "0 24 * * *", "* * * * * 60"])
def test_a_cron_field_out_of_range_is_refused_before_deploying(cron):
    schedule = {"cron": cron, "timezone": "Europe/Paris"}
    issues = validate(chain(trigger(kind="schedule", schedule=schedule), end("done")))
    (issue,) = [i for i in issues if i.code == "config.invalid"]
    assert (issue.node_id, issue.field, "out of range" in issue.message) == (
        "start",
        "schedule.cron",
        True,
    )


def test_nested_config_issue_has_a_json_path():
    cases = {
        "mode": "switch",
        "value": "input.k",
        "cases": [{"handle": "a", "equals": 1}, {"handle": "b bad", "equals": 2}],
    }
    issues = validate(chain(trigger(), node("x", "logic", cases)))
    assert any(i.field == "cases[1].handle" for i in issues if i.code == "config.invalid")


def test_settings_above_cap_are_reported():
    over = flow([trigger()], [], settings={"max_concurrency": 500})
    assert any(i.field == "settings.max_concurrency" for i in validate(over))


def test_loop_variables_exist_only_inside_the_body():
    nodes = [
        trigger(),
        node("each", "loop", LOOP),
        set_vars("body", seen="{{ vars.item }}"),
        end("after", "{{ vars.item }}"),
    ]
    edges = [edge("start", "each"), edge("each", "body", "body"), edge("each", "after", "done")]
    unset = [i for i in validate(flow(nodes, edges)) if i.code == "expr.var_unset"]
    assert [(i.node_id, i.field) for i in unset] == [("after", "end.output")]


def test_join_after_if_else_is_valid():
    nodes = [
        trigger(),
        node("check", "logic", LOGIC_IF),
        set_vars("yes", r=1),
        set_vars("no", r=2),
        end("join", "{{ vars.r }}"),
    ]
    edges = [
        edge("start", "check"),
        edge("check", "yes", "true"),
        edge("check", "no", "false"),
        edge("yes", "join"),
        edge("no", "join"),
    ]
    assert validate(flow(nodes, edges)) == []


def test_parallel_branches_may_not_share_a_node():
    nodes = [
        trigger(),
        node("fan", "parallel", {"branches": ["a", "b"]}),
        set_vars("x", v=1),
        set_vars("y", v=2),
        end("shared"),
    ]
    edges = [
        edge("start", "fan"),
        edge("fan", "x", "a"),
        edge("fan", "y", "b"),
        edge("x", "shared"),
        edge("y", "shared"),
    ]
    codes = [i.code for i in validate(flow(nodes, edges))]
    assert "scope.crossing" in codes


def test_output_variable_counts_as_setting_a_variable():
    first = {**set_vars("s", x=1), "output_variable": "saved"}
    assert validate(chain(trigger(), first, end("a", "{{ vars.saved.x }}"))) == []


@pytest.mark.parametrize(
    ("text", "code", "named"),
    [
        ("{{ item.name }}", "expr.unknown_name", "'item'"),
        ("{{ env.HOME }}", "expr.unknown_name", "'env'"),
        ("{{ vars.rows.append(2) }}", "expr.changes_data", "'.append(...)'"),
        ("{{ nodes.a.output.pop('k') }}", "expr.changes_data", "'.pop(...)'"),
        ("{{ input.rows.values() }}", "expr.method_on_data", "'input.rows | items | map"),
    ],
)
def test_expression_issues_name_what_will_fail(text, code, named):
    issues = [i for i in validate(chain(trigger(), end("b", text))) if i.code == code]
    severity = "warning" if code == "expr.method_on_data" else "error"
    assert [(i.severity, i.node_id, i.field) for i in issues] == [(severity, "b", "end.output")]
    assert named in issues[0].message


def test_names_a_template_declares_are_known():
    text = "{% set n = 2 %}{% for r in input.rows %}{{ loop.index * n }}{{ r }}{% endfor %}"
    assert validate(chain(trigger(), end("b", text))) == []
    assert validate(chain(trigger(), end("b", "{{ range(3) | list }} {{ dict(a=1) }}"))) == []
