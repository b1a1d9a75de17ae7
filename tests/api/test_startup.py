"""Several servers starting at once on one fresh PostgreSQL: the schema is made once, the run
store's tables once, and there is exactly one first admin (whose token one of them prints)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from engine.api.members import SERVER, Members
from engine.gateway.tokens import ServerTokens
from engine.run.store import RunStore
from engine.store import create_engine, migrate

STARTING = 6


def test_servers_starting_together_set_up_once_and_make_one_admin(postgres_url):
    engines = [create_engine(postgres_url) for _ in range(STARTING)]

    together = threading.Barrier(STARTING)

    def start(engine: sa.Engine) -> str | None:
        together.wait()
        migrate(engine)
        RunStore(engine)
        together.wait()
        return Members(ServerTokens(engine)).first_admin()

    with ThreadPoolExecutor(STARTING) as pool:
        printed = list(pool.map(start, engines))
    assert len([token for token in printed if token is not None]) == 1
    assert [(t.member, t.role) for t in ServerTokens(engines[0]).all(SERVER)] == [
        ("admin", "admin")
    ]
    for engine in engines:
        engine.dispose()
