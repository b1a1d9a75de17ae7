"""DBOS's log lines in our processes: its errors only, on whatever stderr is at the time."""

from __future__ import annotations

import logging
import sys
from typing import Any


class _CurrentStderr(logging.StreamHandler[Any]):
    """Writes to whatever `sys.stderr` is when a record is emitted (DBOS's own handler keeps the
    stream it saw first, which breaks when the process swaps its streams)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_dbos_logging() -> None:
    """Only DBOS's errors reach the console; installed before DBOS adds a handler of its own."""
    dbos_logger = logging.getLogger("dbos")
    if not dbos_logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("dbos: %(message)s"))
        dbos_logger.addHandler(handler)
        dbos_logger.propagate = False
    dbos_logger.setLevel(logging.ERROR)
