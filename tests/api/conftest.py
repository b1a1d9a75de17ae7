"""PostgreSQL for the server tests: a private cluster (tests/postgres.py); `served`, an
`aerostudio serve` process on each database in turn (tests/api/served.py)."""

from tests.api.served import served  # noqa: F401
from tests.postgres import postgres_server, postgres_url  # noqa: F401
