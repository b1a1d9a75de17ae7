from collections.abc import Iterator

import pytest

from engine.llm import RetryPolicy
from tests.llm.servers import LoopbackServer, Script

FAST_RETRY = RetryPolicy(attempts=3, delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    loopback = LoopbackServer()
    loopback.start()
    yield loopback
    loopback.stop()


@pytest.fixture
def script(server: LoopbackServer) -> Script:
    server.script.reset()
    return server.script
