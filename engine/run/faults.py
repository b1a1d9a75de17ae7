"""Named places where a test can make the engine's process die, as a `kill -9` would there.

Test-only: `AEROSTUDIO_FAULT=POINT` (or `POINT:N`, the N-th time the point is reached) makes the
process SIGKILL itself at that point, leaving the run store and DBOS as a crash leaves them.
Unset, a point is one comparison; under `python -O` (`__debug__` false) no point can be armed.
The durability tests use these to put a kill in each window between two commits, instead of
hoping a random kill lands there.
"""

from __future__ import annotations

import os
import signal

POINTS = frozenset(
    {
        "after_run_row",  # the run's row is committed, its DBOS workflow not started
        "after_workflow_start",  # both exist; the run has not begun
        "before_node_record",  # a node's side effect is done, its outcome not committed
        "after_node_record",  # a node's outcome is committed
        "after_pause_written",  # the store has a run_paused event
        "after_message_taken",  # an answer to a pause is taken, the node's outcome not committed
        "before_run_finished",  # the run's end is decided, not committed
        "after_run_finished",  # the run's end is committed, DBOS has not marked it done
        "after_reconcile_start",  # recovery started the workflow of a stranded run
        "after_reconcile_fail",  # recovery marked failed a run whose workflow had ended
    }
)


class UnknownFault(ValueError):
    """AEROSTUDIO_FAULT names no fault point."""


def _armed() -> tuple[str, int] | None:
    value = os.environ.get("AEROSTUDIO_FAULT")
    if not value or not __debug__:
        return None
    name, _, count = value.partition(":")
    if name not in POINTS or (count and not count.isdigit()):
        raise UnknownFault(
            f"AEROSTUDIO_FAULT={value!r}: expected POINT or POINT:N, POINT one of "
            + ", ".join(sorted(POINTS))
        )
    return name, int(count or 1)


_ARMED = _armed()
ACTIVE = _ARMED is not None  # for a point whose test costs more than a comparison
_reached: dict[str, int] = {}


def point(name: str) -> None:
    """Die here if AEROSTUDIO_FAULT names this point (and this is its N-th time)."""
    if _ARMED is None or _ARMED[0] != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == _ARMED[1]:
        os.kill(os.getpid(), signal.SIGKILL)
