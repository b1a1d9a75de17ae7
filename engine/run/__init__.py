"""Running flows: the interpreter of docs/flows.md §3, its events and step-debug controls.

`Runtime.start(flow, input)` returns a `RunHandle` (events, debugger, inbox, result).
`engine.run.durable` runs the same interpreter as a DBOS workflow, side-effecting nodes recorded
once (docs/durability.md).
"""

from engine.run import agent as _agent  # noqa: F401  (registers executors)
from engine.run import ai_executors as _ai_executors  # noqa: F401
from engine.run import auth_gate as _auth_gate  # noqa: F401
from engine.run import code_nodes as _code_nodes  # noqa: F401
from engine.run import guardrail as _guardrail  # noqa: F401
from engine.run import messaging as _messaging  # noqa: F401
from engine.run.context import NodeContext, Outcome, Services
from engine.run.executors import EXECUTORS, executor
from engine.run.runtime import FlowInvalid, RunHandle, RunResult, Runtime

__all__ = [
    "EXECUTORS",
    "FlowInvalid",
    "NodeContext",
    "Outcome",
    "RunHandle",
    "RunResult",
    "Runtime",
    "Services",
    "executor",
]
