"""The interpreter: docs/flows.md §3 over one flow run.

A region is a set of nodes run together: the main path from the trigger, one loop iteration's
body, one parallel branch, an error handler's path. In a region, a node runs once every incoming
edge is settled and at least one was taken (dead-path elimination); ready nodes start in node-id
order, up to `settings.max_concurrency` executing at once. Scope owners (loop, parallel) run their
scopes as nested regions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.flow import Flow, Node
from engine.flow.expressions import ExpressionError
from engine.nodes import get_spec
from engine.nodes.control import LoopConfig, ParallelConfig
from engine.run.context import NodeContext, Outcome, Recorder, Services
from engine.run.debug import Debugger
from engine.run.errors import LimitError, NodeError, NodeTimeout, RunEnded
from engine.run.events import EventLog
from engine.run.executors import EXECUTORS
from engine.run.graph import FlowGraph
from engine.run.store import Record


class NodeFailure(Exception):
    """A node failed for good (retries used up, no error handle took it)."""

    def __init__(self, node_id: str, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.node_id = node_id
        self.error = error


@dataclass
class Region:
    """The state of one region while it runs."""

    members: frozenset[str]
    prefix: str
    variables: dict[str, Any]
    outputs: dict[str, Any]
    error: dict[str, Any] | None = None
    settled: dict[str, int] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    finished: dict[str, Any] = field(default_factory=dict)
    passed_on: set[str] = field(default_factory=set)


class Interpreter:
    def __init__(
        self,
        flow: Flow,
        run_id: str,
        *,
        events: EventLog,
        services: Services,
        recorder: Recorder,
        debugger: Debugger,
        pinned: Mapping[str, Outcome] | None = None,
        depth: int = 0,
        context: Any = None,
    ) -> None:
        self.flow = flow
        self.run_id = run_id
        self.depth = depth
        self.run_info = {
            "id": run_id,
            "flow_id": flow.id,
            "workspace": flow.workspace,
            "depth": depth,
            "context": context,
        }
        self.graph = FlowGraph(flow)
        self.events = events
        self.services = services
        self.recorder = recorder
        self.debugger = debugger
        self.pinned = dict(pinned or {})
        self.input: Any = None
        self.node_runs = 0
        self._configs: dict[str, Any] = {}
        self.main = Region(frozenset(), "", {}, {})
        self._slots = asyncio.Semaphore(flow.settings.max_concurrency)

    # ------------------------------------------------------------------------------ regions

    async def run_main(self, trigger: str, payload: Any) -> tuple[Any, Region]:
        """Run from the trigger; returns the run's output and the main region."""
        self.input = payload
        region = self.main = self._region(self.graph.reachable_from(trigger), "", {}, {})
        await self._run_region(region, [trigger])
        return self._region_result(region), region

    async def run_handler(self, handler: str, error: dict[str, Any]) -> Any:
        """Run an error handler's path with `error` in scope, after the main region failed."""
        main = self.main
        region = self._region(self.graph.reachable_from(handler), "", main.variables, main.outputs)
        region.error = error
        await self._run_region(region, [handler])
        return self._region_result(region)

    def _region(
        self,
        candidates: frozenset[str],
        prefix: str,
        variables: dict[str, Any],
        outputs: dict[str, Any],
    ) -> Region:
        return Region(
            self.graph.without_nested_scopes(candidates), prefix, dict(variables), dict(outputs)
        )

    def _region_result(self, region: Region) -> Any:
        """The output of the nodes that finished without passing on to another: one such node,
        its output; several, an object keyed by node id. Nodes skipped on dead paths are left out.
        """
        sinks = [n for n in sorted(region.finished) if n not in region.passed_on]
        if len(sinks) == 1:
            return region.finished[sinks[0]]
        return {n: region.finished[n] for n in sinks}

    async def _run_region(self, region: Region, entries: list[str]) -> None:
        ready = sorted(entries)
        running: dict[asyncio.Task[Outcome], str] = {}
        try:
            while ready or running:
                if len(ready) == 1 and not running:
                    # Nothing to run alongside it (a chain): no task needed.
                    node_id = ready.pop()
                    ready = self._settle(region, node_id, await self._run_node(region, node_id))
                    continue
                for node_id in ready:
                    task = asyncio.ensure_future(self._run_node(region, node_id))
                    running[task] = node_id
                ready = []
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: running[t]):
                    node_id = running.pop(task)
                    ready.extend(self._settle(region, node_id, task.result()))
                ready.sort()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _settle(self, region: Region, node_id: str, outcome: Outcome) -> list[str]:
        """Mark the node's out-edges taken or dead; return the targets that became ready."""
        became_ready: list[str] = []
        pending: list[tuple[str, str | None]] = [(node_id, outcome.handle)]
        while pending:
            source, handle = pending.pop()
            for link in self.graph.links_out.get(source, ()):
                target = link.target
                if target not in region.members:
                    continue
                region.settled[target] = region.settled.get(target, 0) + 1
                if handle is not None and link.handle == handle:
                    region.taken.add(target)
                    region.passed_on.add(source)
                if region.settled[target] < self.graph.in_degree(target, region.members):
                    continue
                if target in region.taken:
                    became_ready.append(target)
                else:
                    self.events.emit("node_skipped", node_id=target, key=region.prefix + target)
                    pending.append((target, None))
        return became_ready

    # --------------------------------------------------------------------------------- nodes

    async def _run_node(self, region: Region, node_id: str) -> Outcome:
        node = self.flow.node_map[node_id]
        key = region.prefix + node_id
        if key not in self.events.finished_keys:
            await self.debugger.before(node_id, self.events)
        if node_id in self.pinned:
            outcome = self.pinned[node_id]
            self.events.emit(
                "node_finished",
                node_id=node_id,
                key=key,
                handle=outcome.handle,
                output=outcome.output,
                duration_ms=0,
                pinned=True,
            )
        elif node.type == "loop":
            outcome = await self._timed(node, key, self._run_loop(region, node, key))
        elif node.type == "parallel":
            outcome = await self._timed(node, key, self._run_parallel(region, node, key))
        else:
            outcome = await self._attempts(region, node, key)
        region.finished[node_id] = outcome.output
        region.outputs[node_id] = outcome.output
        region.variables.update(outcome.variables)
        if node.output_variable:
            region.variables[node.output_variable] = outcome.output
        return outcome

    def _scope(self, region: Region) -> dict[str, Any]:
        return {
            "input": self.input,
            "vars": region.variables,
            "nodes": region.outputs,
            "run": self.run_info,
            "error": region.error,
        }

    async def _timed(self, node: Node, key: str, work: Any) -> Outcome:
        self.events.emit("node_started", node_id=node.id, key=key, node_type=node.type, attempt=1)
        start = asyncio.get_running_loop().time()
        try:
            outcome: Outcome = await work
        except NodeError as exc:
            error = exc.to_dict(node.id, 1)
            self.events.emit("node_failed", node_id=node.id, key=key, error=error, will_retry=False)
            raise NodeFailure(node.id, error) from None
        self._finished(node, key, outcome, start)
        return outcome

    def _config(self, node: Node) -> Any:
        """A node's typed config, parsed once per run (loops run the same node many times)."""
        config = self._configs.get(node.id)
        if config is None:
            config = self._configs[node.id] = node.parsed_config()
        return config

    @staticmethod
    def _elapsed(start: float) -> float:
        return round((asyncio.get_running_loop().time() - start) * 1000, 3)

    def _finished(self, node: Node, key: str, outcome: Outcome, start: float) -> None:
        self.events.emit(
            "node_finished",
            node_id=node.id,
            key=key,
            handle=outcome.handle,
            output=outcome.output,
            duration_ms=self._elapsed(start),
        )

    def _count_run(self) -> None:
        self.node_runs += 1
        limit = self.flow.settings.max_node_runs
        if self.node_runs > limit:
            raise LimitError(f"settings.max_node_runs ({limit}) reached")

    async def _attempts(self, region: Region, node: Node, key: str) -> Outcome:
        """Run a node with its retries. Side-effecting and pausing nodes are recorded once: a
        replay takes the recorded outcome instead of running them again."""
        spec = get_spec(node.type)
        durable = spec is not None and (spec.has_side_effect(node.config) or spec.pauses)
        record = self.recorder.recorded(key) if durable else None
        if record is None:
            outcome, duration = await self._try(region, node, key)
            redact = self.events.redactor.value
            record = Record(
                node.id, outcome.handle, redact(outcome.output), redact(outcome.variables), duration
            )
            if durable:
                record = await self.recorder.commit(key, record)
        elif record.handle == "error":
            region.error = record.output["error"]
        self.events.emit(
            "node_finished",
            node_id=node.id,
            key=key,
            handle=record.handle,
            output=record.output,
            duration_ms=record.duration_ms,
        )
        return Outcome(record.handle, record.output, record.variables)

    async def _try(self, region: Region, node: Node, key: str) -> tuple[Outcome, float]:
        run = EXECUTORS.get(node.type)
        attempts = node.retry.max_attempts if node.retry else 1
        error: dict[str, Any] = {}
        for attempt in range(1, attempts + 1):
            self.events.emit(
                "node_started", node_id=node.id, key=key, node_type=node.type, attempt=attempt
            )
            start = asyncio.get_running_loop().time()
            try:
                self._count_run()
                if run is None:
                    raise NodeError(f"node type '{node.type}' cannot run in this version yet")
                ctx = NodeContext(
                    self.run_id,
                    node,
                    key,
                    self._scope(region),
                    attempt,
                    self.events,
                    self.services,
                    self.recorder,
                    self.flow.settings.llm,
                    self.depth,
                )
                async with self._slots:
                    outcome = await asyncio.wait_for(run(ctx, self._config(node)), node.timeout_s)
                return outcome, self._elapsed(start)
            except TimeoutError:
                failure: NodeError = NodeTimeout(f"timeout_s ({node.timeout_s:g}) reached")
            except NodeError as exc:
                failure = exc
            except ExpressionError as exc:
                failure = NodeError(f"expression: {exc}")
            except RunEnded as ended:  # an `end` node: it finished, and so does the run
                self._finished(node, key, Outcome("out", ended.output), start)
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = NodeError(f"{type(exc).__name__}: {exc}")
            error = self.events.redactor.value(failure.to_dict(node.id, attempt))
            will_retry = attempt < attempts and not isinstance(failure, LimitError)
            self.events.emit(
                "node_failed", node_id=node.id, key=key, error=error, will_retry=will_retry
            )
            if not will_retry:
                break
            assert node.retry is not None
            await asyncio.sleep(node.retry.backoff_s * node.retry.backoff_factor ** (attempt - 1))
        if self.graph.has_error_path(node.id, region.members):
            region.error = error
            return Outcome("error", {"error": error}), 0.0
        raise NodeFailure(node.id, error)

    # -------------------------------------------------------------------------------- scopes

    async def _run_scope(
        self, outer: Region, owner: str, handle: str, prefix: str, variables: dict[str, Any]
    ) -> Any:
        members = self.graph.scope_members(owner, handle)
        region = self._region(members, prefix, variables, outer.outputs)
        await self._run_region(region, self.graph.scope_entries(owner, handle))
        return self._region_result(region)

    async def _run_loop(self, outer: Region, node: Node, key: str) -> Outcome:
        config = self._config(node)
        assert isinstance(config, LoopConfig)
        items = self._evaluate(outer, config.items)
        if not isinstance(items, list | tuple):
            raise NodeError(f"loop.items must give a list, got {type(items).__name__}")
        if len(items) > config.max_iterations:
            raise LimitError(
                f"loop.max_iterations ({config.max_iterations}) is below the {len(items)} items"
            )
        gate = asyncio.Semaphore(config.concurrency)

        async def iteration(index: int, item: Any) -> Any:
            async with gate:
                variables = {**outer.variables, config.item_var: item, config.index_var: index}
                return await self._run_scope(outer, node.id, "body", f"{key}[{index}]/", variables)

        results = await asyncio.gather(*(iteration(i, item) for i, item in enumerate(items)))
        return Outcome("done", {"results": list(results), "count": len(results)})

    async def _run_parallel(self, outer: Region, node: Node, key: str) -> Outcome:
        config = self._config(node)
        assert isinstance(config, ParallelConfig)
        tasks = {
            asyncio.ensure_future(
                self._run_scope(outer, node.id, branch, f"{key}.{branch}/", outer.variables)
            ): branch
            for branch in config.branches
        }
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        pending = set(tasks)
        deadline = config.timeout_s
        try:
            while pending:
                done, pending = await asyncio.wait(
                    pending, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    for task in pending:
                        errors[tasks[task]] = {
                            "type": "timeout",
                            "message": f"parallel.timeout_s ({deadline:g}) reached",
                        }
                    break
                for task in sorted(done, key=lambda t: tasks[t]):
                    exc = task.exception()
                    if isinstance(exc, NodeFailure):
                        errors[tasks[task]] = exc.error
                    elif exc is not None:
                        raise exc
                    else:
                        results[tasks[task]] = task.result()
                if config.wait == "any" and results:
                    break
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        return Outcome("done", {"results": results, "errors": errors})

    def _evaluate(self, region: Region, expression: str) -> Any:
        from engine.flow.expressions import evaluate

        try:
            return evaluate(expression, self._scope(region))
        except ExpressionError as exc:
            raise NodeError(f"expression: {exc}") from None
