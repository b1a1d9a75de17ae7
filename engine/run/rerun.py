"""Running a flow again from one of its nodes: the nodes before it keep an earlier run's
outcomes (pinned), that node and everything after it run anew."""

from __future__ import annotations

from engine.flow import Flow
from engine.run.context import Outcome
from engine.run.graph import FlowGraph
from engine.run.store import RunStore


def pins_from_run(store: RunStore, earlier: str, flow: Flow, node_id: str) -> dict[str, Outcome]:
    """The outcomes of run `earlier`'s nodes, except `node_id` and the nodes it reaches."""
    if node_id not in flow.node_map:
        raise LookupError(f"flow '{flow.id}' has no node '{node_id}'")
    rerun = FlowGraph(flow).reachable_from(node_id)
    records = store.records(earlier)
    pins: dict[str, Outcome] = {}
    for event in store.events(earlier):
        key = event.get("key")
        if event["type"] != "node_finished" or key != event["node_id"] or key in rerun:
            continue
        node = flow.node_map.get(key)
        if node is None:
            continue
        record = records.get(key)
        variables = (
            record.variables
            if record
            else (event["output"] if node.config.get("action") == "set_variables" else {})
        )
        pins[key] = Outcome(event["handle"], event["output"], variables)
    return pins
