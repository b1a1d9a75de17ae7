import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


from tests.postgres import postgres_server, postgres_url  # noqa: E402, F401
