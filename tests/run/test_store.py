"""The run store's own rules: runs listed by workspace, and older databases upgraded in place."""

from __future__ import annotations

import sqlalchemy as sa

from engine.run.store import RunStore
from engine.store.db import create_engine


def _flow(workspace: str | None) -> dict[str, object]:
    return {"id": "f", "nodes": [], **({"workspace": workspace} if workspace else {})}


def test_runs_are_listed_for_a_members_workspaces_and_those_in_none(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    store = RunStore(engine)
    for run_id, workspace in (("a1", "alpha"), ("b1", "beta"), ("n1", None), ("a2", "alpha")):
        store.create_run(run_id, "f", _flow(workspace), None, {})
    listed = lambda workspaces: {r["run_id"] for r in store.list_runs(10, None, workspaces)}  # noqa: E731
    assert listed(None) == {"a1", "b1", "n1", "a2"}
    assert listed({"alpha"}) == {"a1", "a2", "n1"}
    assert listed({"beta", "gamma"}) == {"b1", "n1"}
    assert listed(frozenset()) == {"n1"}
    engine.dispose()


def test_an_older_runs_database_gets_each_runs_workspace_from_its_flow(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    store = RunStore(engine)
    store.create_run("a1", "f", _flow("alpha"), None, {})
    store.create_run("n1", "f", _flow(None), None, {})
    with engine.begin() as db:  # as an Aerostudio before the workspace column made it
        db.execute(sa.text("DROP INDEX ix_aero_runs_workspace"))
        db.execute(sa.text("ALTER TABLE aero_runs DROP COLUMN workspace"))
    upgraded = RunStore(engine)
    assert "ix_aero_runs_workspace" in {
        i["name"] for i in sa.inspect(engine).get_indexes("aero_runs")
    }
    assert {r["run_id"] for r in upgraded.list_runs(10, None, {"beta"})} == {"n1"}
    assert {r["run_id"] for r in upgraded.list_runs(10, None, {"alpha"})} == {"a1", "n1"}
    engine.dispose()
