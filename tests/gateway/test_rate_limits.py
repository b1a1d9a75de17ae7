"""The gateway's rate limit as a setting: per workspace and per token where set, the default
(120 calls a minute) unchanged, set through the CLI (in processes of its own, reaching a running
`aerostudio serve` at its next request) and through the API (on SQLite and PostgreSQL), and
enforced on the MCP endpoint as 429 with a Retry-After of the set rate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx2
import pytest

from tests.api.served import DATABASES, aerostudio, serving
from tests.postgres import new_database, postgres_server  # noqa: F401

pytestmark = pytest.mark.timeout(240)


def until_limited(http: httpx2.Client, url: str, token: str, most: int) -> tuple[int, int]:
    """Requests with `token` until the first 429: how many went through, and its Retry-After."""
    auth = {"Authorization": f"Bearer {token}"}
    for through in range(most + 1):
        answer = http.post(url, headers=auth, json={})
        if answer.status_code == 429:
            assert answer.json()["error"] == "rate_limited"
            return through, int(answer.headers["Retry-After"])
        assert answer.status_code not in (401, 403, 404), answer.text
    raise AssertionError(f"no 429 after {most + 1} requests")


def assert_rate(http: httpx2.Client, url: str, token: str, per_minute: int) -> None:
    """A fresh bucket lets `per_minute` requests through, then asks to wait for one to refill:
    60/rate seconds, less what refilled while the requests were made."""
    through, retry_after = until_limited(http, url, token, per_minute + 5)
    assert through == per_minute
    assert math.ceil(60 / per_minute) - 3 <= retry_after <= math.ceil(60 / per_minute)


def _token(home: Path, *args: str) -> tuple[str, str]:
    made = json.loads(aerostudio(home, "token", "create", "-w", "limits", *args, "--json").stdout)
    return made["id"], made["token"]


def test_rates_set_through_the_cli_reach_a_running_gateway(tmp_path):
    home = tmp_path / "home"
    with serving(home) as served, httpx2.Client(timeout=60) as http:
        url = f"{served.url}/ws/limits/mcp"
        aerostudio(home, "workspace", "create", "limits")
        _, plain = _token(home, "--member", "ana", "--role", "viewer")
        through, retry_after = until_limited(http, url, plain, 200)
        assert 120 <= through < 140 and retry_after == 1  # the default, as before

        aerostudio(home, "workspace", "rate-limit", "-w", "limits", "--calls-per-minute", "3")
        _, workspace_rate = _token(home, "--member", "bo", "--role", "viewer")
        own_id, own_rate = _token(home, "--member", "cy", "--role", "viewer", "--rate", "2")
        assert_rate(http, url, workspace_rate, 3)
        assert_rate(http, url, own_rate, 2)  # the token's own rate over its workspace's

        listed = aerostudio(home, "token", "list", "-w", "limits").stdout
        assert "RATE" in listed.splitlines()[0]
        rows = {line.split()[1]: line for line in listed.splitlines()[1:]}
        assert rows["ana"].endswith("3/min (workspace)")
        assert rows["cy"].endswith("2/min (token)")
        shown = aerostudio(home, "workspace", "rate-limit", "-w", "limits", "--json").stdout
        assert json.loads(shown)["effective_rate_per_minute"] == 3

        aerostudio(home, "token", "rate", own_id, "-w", "limits", "--calls-per-minute", "6")
        _, retry_after = until_limited(http, url, own_rate, 5)  # its bucket, now of 6 a minute
        assert retry_after <= 10
        aerostudio(home, "workspace", "rate-limit", "-w", "limits", "--clear")
        listed = json.loads(aerostudio(home, "token", "list", "-w", "limits", "--json").stdout)
        rates = {t["member"]: t["effective_rate_per_minute"] for t in listed}
        assert rates == {"ana": 120, "bo": 120, "cy": 6}


def test_bad_rates_are_refused_by_the_cli_naming_what_is_wrong(tmp_path):
    home = tmp_path / "home"
    aerostudio(home, "workspace", "create", "limits")
    refused = aerostudio(
        home, "workspace", "rate-limit", "-w", "limits", "--calls-per-minute", "0", check=False
    )
    assert refused.returncode != 0 and "between 1 and" in refused.stderr
    refused = aerostudio(
        home, "token", "create", "-w", "limits", "--member", "a", "--role", "viewer",
        "--rate", "-5", check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "--rate" in refused.stderr
    assert json.loads(aerostudio(home, "token", "list", "-w", "limits", "--json").stdout) == []
    refused = aerostudio(home, "token", "rate", "nope", "-w", "limits", "--clear", check=False)
    assert refused.returncode != 0 and "no token 'nope'" in refused.stderr


@pytest.mark.parametrize("database", DATABASES)
def test_rates_set_through_the_api(database, tmp_path, request):
    db = []
    if database == "postgresql":
        db = ["--db", new_database(request.getfixturevalue("postgres_server"))]
    with serving(tmp_path / "home", *db) as served, httpx2.Client(timeout=60) as http:
        api = f"{served.url}/api/workspaces"
        admin = served.admin
        slug = http.post(api, headers=admin, json={"name": "Rates"}).json()["slug"]
        limit = f"{api}/{slug}/rate-limit"
        assert http.get(limit, headers=admin).json() == {
            "rate_per_minute": None,
            "effective_rate_per_minute": 120,
        }
        for bad in (0, -1, "4", 1.5, True):
            answer = http.put(limit, headers=admin, json={"rate_per_minute": bad})
            assert answer.status_code == 400 and "rate_per_minute" in answer.json()["message"]
        assert http.put(limit, headers=admin, json={}).status_code == 400
        assert http.put(limit, headers=admin, json={"rate_per_minute": 4}).status_code == 200

        def token(**extra: object) -> dict:
            made = http.post(
                f"{api}/{slug}/tokens",
                headers=admin,
                json={"member": "m", "role": "viewer", **extra},
            )
            assert made.status_code == 201, made.text
            return made.json()

        workspace_rate, own_rate, patched = token(), token(rate_per_minute=2), token()
        assert own_rate["rate_per_minute"] == 2 and workspace_rate["rate_per_minute"] is None
        patch = f"{api}/{slug}/tokens/{patched['id']}"
        assert http.patch(patch, headers=admin, json={"rate_per_minute": 6}).status_code == 200
        listed = http.get(f"{api}/{slug}/tokens", headers=admin).json()["tokens"]
        assert [t["effective_rate_per_minute"] for t in listed] == [4, 2, 6]

        url = f"{served.url}/ws/{slug}/mcp"
        assert_rate(http, url, workspace_rate["token"], 4)
        assert_rate(http, url, own_rate["token"], 2)
        assert_rate(http, url, patched["token"], 6)

        assert http.patch(patch, headers=admin, json={"rate_per_minute": None}).status_code == 200
        assert http.put(limit, headers=admin, json={"rate_per_minute": None}).status_code == 200
        listed = http.get(f"{api}/{slug}/tokens", headers=admin).json()["tokens"]
        assert [t["effective_rate_per_minute"] for t in listed] == [120, 2, 120]
        missing = http.patch(
            f"{api}/{slug}/tokens/nope", headers=admin, json={"rate_per_minute": 3}
        )
        assert missing.status_code == 404


def test_a_version_5_database_gets_the_rate_settings_and_keeps_its_tokens(gateway):
    import sqlalchemy as sa

    from engine.gateway.rates import Rates
    from engine.store import migrate
    from engine.store.migrate import VERSION
    from engine.store.tables import settings

    slug = gateway.workspaces.create("old").slug
    info, token = gateway.tokens.create(slug, "ana", "viewer")
    with gateway.engine.begin() as db:
        for table in ("aero_tokens", "aero_workspaces"):
            db.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN rate_per_minute"))
        db.execute(settings.update().where(settings.c.key == "schema_version").values(value=5))
    assert migrate(gateway.engine) == VERSION
    rates = Rates(gateway.engine)
    assert rates.workspace(slug) is None  # the default, as before
    assert gateway.tokens.find(token, slug).rate_per_minute is None
    assert gateway.tokens.authenticate(token, slug).name == "ana"
    rates.set_workspace(slug, 30)
    rates.set_token(slug, info.id, 7)
    assert rates.workspace(slug) == 30
    assert gateway.tokens.find(token, slug).rate_per_minute == 7


def test_a_bucket_takes_the_rate_each_call_gives():
    from engine.gateway.tokens import RateLimiter

    limiter = RateLimiter(per_minute=120)
    assert [limiter.take("t", now=0.0, per_minute=2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("t", now=0.0, per_minute=2) == pytest.approx(30.0)
    assert limiter.take("t", now=0.0, per_minute=6) == pytest.approx(10.0)  # a rate changed
    assert limiter.take("other", now=0.0) == 0.0  # the default for a token with none
