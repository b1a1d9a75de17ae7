"""Expressions cannot change the run's data, read JSON keys before dict methods, and stay within
their cost limits (engine.flow.costs), whether evaluated alone or in a real run."""

from __future__ import annotations

import asyncio
import copy
import time

import pytest

from engine.flow.costs import MAX_INT_BITS, MAX_ITEMS, MAX_SECONDS, MAX_STEPS, MAX_TEXT
from engine.flow.expressions import ExpressionError, evaluate, render, render_value
from engine.run import FlowInvalid, Runtime
from tests.flow.builders import edge, end, flow, node, set_vars, trigger

KEYS = ["items", "keys", "values", "get", "update", "pop", "copy", "setdefault", "clear"]


def _scope() -> dict:
    return {
        "input": {"a": 1, "items": [1, 2], "user": {"name": "Ada"}},
        "vars": {"x": [1], "seen": {"k": "v"}},
        "nodes": {"ask": {"text": "yes", "values": [3, 4]}},
        "run": {"id": "r1"},
        "error": None,
    }


@pytest.mark.parametrize("key", KEYS)
def test_a_json_key_named_like_a_dict_method_is_the_key(key):
    scope = {"input": {key: [1, 2]}}
    assert evaluate(f"input.{key}", scope) == [1, 2]
    assert render(f"{{{{ input.{key} | sum }}}}", scope) == 3
    assert render(f"n={{{{ input.{key} | length }}}}", scope) == "n=2"


def test_dict_methods_still_work_where_no_key_has_their_name():
    assert evaluate("input.get('a', 0) + input.get('zz', 5)", _scope()) == 6
    assert evaluate("input.user.items() | list", _scope()) == [("name", "Ada")]


@pytest.mark.parametrize(
    ("text", "method"),
    [
        ("{{ input.update({'x': 1}) }}", "update"),
        ("{{ vars.x.append(2) }}", "append"),
        ("{{ input.pop('a') }}", "pop"),
        ("{{ vars.seen.setdefault('n', 1) }}", "setdefault"),
        ("{{ nodes.ask['values'].clear() }}", "clear"),
        ("changed: {{ input.user.update(name='Bob') }}", "update"),
    ],
)
def test_an_expression_cannot_change_the_data_it_reads(text, method):
    scope = _scope()
    before = copy.deepcopy(scope)
    with pytest.raises(ExpressionError) as raised:
        render(text, scope)
    message = str(raised.value)
    assert text[text.index("{{") + 2 : text.index("}}")].strip() in message  # names it
    assert f"'{method}' would change" in message
    assert scope == before


@pytest.mark.parametrize(
    ("expression", "limit"),
    [
        ("(3 ** 7000000) % 7", f"{MAX_INT_BITS:,} bits"),
        ("'a' * 200000000", f"{MAX_TEXT:,} characters"),
        ("200000000 * 'a'", f"{MAX_TEXT:,} characters"),
        ("[0] * 200000000", f"{MAX_ITEMS:,} items"),
        ("'{:>900000000}'.format(1)", f"{MAX_TEXT:,} characters"),
        ("'%900000000d' % 1", f"{MAX_TEXT:,} characters"),
        ("'x'.center(900000000)", f"{MAX_TEXT:,} characters"),
        ("'x' | indent(900000000)", f"{MAX_TEXT:,} characters"),
        ("'x' | center(width=900000000)", f"{MAX_TEXT:,} characters"),
        ("('ab' * 4000000) | replace(old='a', new='aaaa')", f"{MAX_TEXT:,} characters"),
        ("('a ' * 4000000) | wordwrap(2, wrapstring='-' * 100)", f"{MAX_TEXT:,} characters"),
        ("(['ab' * 4000000] * 3) | join", f"{MAX_TEXT:,} characters"),
        ("('ab' * 4000000).replace('a', 'aaaa')", f"{MAX_TEXT:,} characters"),
        ("[[0] * 100000] * 100000", f"{MAX_TEXT:,} characters"),
    ],
)
def test_costly_expressions_fail_fast_naming_the_limit(expression, limit):
    start = time.perf_counter()
    with pytest.raises(ExpressionError) as raised:
        evaluate(expression, _scope())
    assert time.perf_counter() - start < 0.5
    assert repr(expression) in str(raised.value)
    assert limit in str(raised.value)


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        "{% for i in range(100000) %}{{ 'a' * 1000 }}{% endfor %}",
        "{% set big %}{% for i in range(100000) %}" + "x" * 200 + "{% endfor %}{% endset %}-",
    ],
)
def test_costly_templates_fail_fast(template):
    start = time.perf_counter()
    with pytest.raises(ExpressionError) as raised:
        render(template, _scope())
    assert time.perf_counter() - start < 2.0  # the clock's backstop is MAX_SECONDS
    assert "limit" in str(raised.value)


def test_the_step_limit_holds_one_config_not_each_string():
    loop = "{% for i in range(100000) %}{% endfor %}"
    assert render(loop, _scope()) == ""
    with pytest.raises(ExpressionError, match=f"{MAX_STEPS:,} steps"):
        render_value([loop] * (MAX_STEPS // 100000 + 1), _scope())


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in input.rows %}{% if i in input.rows %}{% endif %}{% endfor %}",
        "{% for i in input.rows %}{% if input.rows == input.rows %}{% endif %}{% endfor %}",
        "{% for i in input.rows %}{{ (input.rows | sort)[0] }}{% endfor %}",
        "{% for i in input.rows %}{{ input.rows.index(99999) }}{% endfor %}",
    ],
)
def test_work_done_in_c_between_two_steps_is_counted(template):
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="limit"):
        render(template, {"input": {"rows": list(range(100000))}})
    assert time.perf_counter() - start < 2.0


def test_ordinary_large_work_stays_within_the_limits():
    rows = list(range(50000))
    text = "{% for r in input.rows %}{{ r }},{% endfor %}"
    assert render(text, {"input": {"rows": rows}}).count(",") == 50000
    assert evaluate("input.rows | sum", {"input": {"rows": rows}}) == sum(rows)
    assert evaluate("2 ** 1000 > 0 and 'ab' * 1000 != ''", {}) is True


async def _finish(document, payload):
    handle = Runtime().start(document, payload)
    return await asyncio.wait_for(handle.result(), 10)


@pytest.mark.anyio
async def test_a_run_loops_over_an_items_key_and_sums_it():
    nodes = [
        trigger(),
        node("each", "loop", {"items": "input.items"}),
        set_vars("double", twice="{{ vars.item * 2 }}"),
        end("total", "{{ nodes.each.results | map(attribute='twice') | sum }}"),
    ]
    edges = [edge("start", "each"), edge("each", "double", "body"), edge("each", "total", "done")]
    result = await _finish(flow(nodes, edges), {"items": [1, 2, 3]})
    assert result.status == "succeeded", result.error
    assert result.output == 12


@pytest.mark.anyio
async def test_a_run_fails_a_costly_expression_without_holding_the_loop():
    nodes = [trigger(), end("boom", "{{ (3 ** 7000000) % 7 }}")]
    start = time.perf_counter()
    result = await _finish(flow(nodes, [edge("start", "boom")]), {})
    assert time.perf_counter() - start < 2
    assert result.status == "failed"
    assert "3 ** 7000000" in result.error["message"]
    assert f"{MAX_INT_BITS:,} bits" in result.error["message"]


@pytest.mark.anyio
async def test_a_flow_that_changes_its_input_does_not_run():
    payload = {"a": 1}
    nodes = [trigger(), end("change", "{{ input.update({'x': 1}) }}")]
    with pytest.raises(FlowInvalid, match="would change data"):
        await _finish(flow(nodes, [edge("start", "change")]), payload)
    assert payload == {"a": 1}


@pytest.mark.anyio
async def test_the_longest_evaluation_holds_the_event_loop_at_most_its_time_limit():
    """Executors render on the event loop: the limits keep the longest hold short."""
    nested = "{% for i in input.rows %}{{ (input.rows | sort)[0] }}{% endfor %}"
    nodes = [trigger(), end("slow", nested)]
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.ensure_future(tick())
    try:
        result = await _finish(flow(nodes, [edge("start", "slow")]), {"rows": list(range(100000))})
    finally:
        ticker.cancel()
    assert result.status == "failed"
    assert "limit" in result.error["message"]
    assert max(gaps) < MAX_SECONDS + 0.5
