"""Step-debugging: breakpoints, step, continue, pinned outputs."""

from __future__ import annotations

import pytest

from engine.run import Outcome, Runtime
from tests.flow.builders import chain, end, set_vars, trigger

pytestmark = pytest.mark.anyio


def _five():
    return chain(
        trigger("n1"),
        set_vars("n2", a=1),
        set_vars("n3", b="{{ vars.a + 1 }}"),
        set_vars("n4", c="{{ vars.b + 1 }}"),
        end("n5", "{{ vars.c }}"),
    )


def _finished(handle):
    return [e["node_id"] for e in handle.events.history if e["type"] == "node_finished"]


async def test_breakpoint_step_and_continue():
    handle = Runtime().start(_five(), {}, breakpoints=["n3"])
    paused = await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    assert (paused["node_id"], paused["kind"]) == ("n3", "breakpoint")
    assert _finished(handle) == ["n1", "n2"]

    handle.debugger.step()
    second = await handle.events.wait_for(
        lambda e: e["type"] == "run_paused" and e["node_id"] == "n4"
    )
    assert second["kind"] == "breakpoint"
    assert _finished(handle) == ["n1", "n2", "n3"]

    handle.debugger.resume()
    result = await handle.result()
    assert result.output == 3
    assert [e["node_id"] for e in handle.events.history if e["type"] == "node_started"] == [
        "n1",
        "n2",
        "n3",
        "n4",
        "n5",
    ]


async def test_breakpoints_can_be_set_while_running():
    handle = Runtime().start(_five(), {}, breakpoints=["n2"])
    await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    handle.debugger.set_breakpoint("n4")
    handle.debugger.resume()
    paused = await handle.events.wait_for(
        lambda e: e["type"] == "run_paused" and e["node_id"] == "n4"
    )
    assert _finished(handle) == ["n1", "n2", "n3"]
    handle.debugger.clear_breakpoint("n4")
    handle.debugger.resume()
    assert (await handle.result()).status == "succeeded"
    assert paused["seq"] < handle.events.history[-1]["seq"]


async def test_a_pinned_node_is_not_executed():
    pinned = {"n3": Outcome("out", {"b": 40}, variables={"b": 40})}
    handle = Runtime().start(_five(), {}, pinned=pinned)
    result = await handle.result()
    assert result.output == 41
    n3 = [e for e in handle.events.history if e.get("node_id") == "n3"]
    assert [e["type"] for e in n3] == ["node_finished"]
    assert n3[0]["pinned"] is True


async def test_pause_stops_before_the_next_node_and_step_goes_one_further():
    handle = Runtime().start(_five(), {}, breakpoints=["n2"])
    await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    handle.debugger.pause()
    handle.debugger.resume()
    handle.debugger.pause()
    paused = await handle.events.wait_for(
        lambda e: e["type"] == "run_paused" and e["node_id"] == "n3"
    )
    assert _finished(handle) == ["n1", "n2"]
    handle.debugger.step()
    await handle.events.wait_for(lambda e: e["type"] == "run_paused" and e["node_id"] == "n4")
    assert _finished(handle) == ["n1", "n2", "n3"]
    handle.debugger.resume()
    assert (await handle.result()).status == "succeeded"
    assert paused["kind"] == "breakpoint"
