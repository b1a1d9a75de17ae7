"""Pausing Python's cycle collector while a big flow is read, validated or drawn.

Those steps make tens of thousands of objects and free almost none; each collection they trigger
walks everything alive (the whole flow, the Qt wrappers), which cost a large share of opening it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_collection() -> Iterator[None]:
    """No cycle collection inside the block (nested blocks leave it to the outermost one)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
