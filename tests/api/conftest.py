"""PostgreSQL for the server tests: a private cluster (tests/postgres.py)."""

from tests.postgres import postgres_server, postgres_url  # noqa: F401
