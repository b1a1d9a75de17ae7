"""`aerostudio run` without a terminal leaves a pause for `runs resume`; `runs resume` of a
finished run says so at once; a bad --db is one line naming the URL, wherever --db is put."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from engine.flow import save
from engine.flow.templates import new_flow
from tests.flow.builders import chain, end, trigger


def _cli(*args: str, home, timeout: float = 60, stdin=subprocess.DEVNULL):
    env = {**os.environ, "AEROSTUDIO_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def _status(run_id: str, db: str, home) -> str:
    shown = _cli("runs", "show", run_id, "--db", db, "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    import json

    return json.loads(shown.stdout)["status"]


def test_a_pause_with_no_terminal_stays_for_runs_resume(tmp_path, home):
    flow = tmp_path / "review.flow.json"
    save(new_flow("Review", "approval"), flow)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    ran = _cli("run", str(flow), "--db", db, home=home)
    assert ran.returncode == 3, ran.stderr
    command = re.search(
        r"aerostudio runs resume (\S+) --decision approve --db '([^']+)'", ran.stderr
    )
    assert command is not None, ran.stderr
    run_id = command.group(1)
    assert command.group(2) == db
    assert "stays paused" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert _status(run_id, db, home) in ("running", "paused")  # not cancelled

    resumed = _cli("runs", "resume", run_id, "--decision", "approve", "--db", db, home=home)
    assert resumed.returncode == 0, resumed.stderr
    assert "■ succeeded" in resumed.stdout
    assert _status(run_id, db, home) == "succeeded"


def test_a_closed_standard_input_leaves_the_pause_too(tmp_path, home):
    flow = tmp_path / "review.flow.json"
    save(new_flow("Review", "approval"), flow)
    env = {**os.environ, "AEROSTUDIO_HOME": str(home)}
    ran = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(flow)],
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(0),  # `<&-`: no standard input at all
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert ran.returncode == 3, ran.stderr
    assert re.search(r"aerostudio runs resume \S+ --decision approve$", ran.stderr.strip())


def test_a_run_left_paused_can_be_cancelled(tmp_path, home):
    flow = tmp_path / "review.flow.json"
    save(new_flow("Review", "approval"), flow)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    ran = _cli("run", str(flow), "--db", db, home=home)
    assert ran.returncode == 3, ran.stderr
    run_id = re.search(r"aerostudio runs resume (\S+)", ran.stderr).group(1)
    cancelled = _cli("runs", "cancel", run_id, "--db", db, home=home)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "aerostudio runs recover" in cancelled.stdout
    recovered = _cli("runs", "recover", "--db", db, home=home)
    assert "■ cancelled" in recovered.stdout, recovered.stderr
    assert _status(run_id, db, home) == "cancelled"
    again = _cli("runs", "cancel", run_id, "--db", db, home=home)
    assert again.returncode == 1
    assert f"run {run_id} is already cancelled" in again.stderr


def test_resuming_a_finished_run_fails_at_once(tmp_path, home):
    flow = tmp_path / "done.flow.json"
    save(chain(trigger(), end("done", "ok")), flow)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    ran = _cli("run", str(flow), "--db", db, "--json", home=home)
    assert ran.returncode == 0, ran.stderr
    run_id = re.search(r'"run_id": "([^"]+)"', ran.stdout).group(1)
    start = time.monotonic()
    resumed = _cli(
        "runs", "resume", run_id, "--decision", "approve", "--db", db, home=home, timeout=10
    )
    took = time.monotonic() - start
    assert resumed.returncode == 1
    assert f"run {run_id} has already finished (succeeded)" in resumed.stderr
    assert took < 3, f"took {took:.1f} s"  # a process start; it used to wait forever


BAD_URLS = [
    ("postgresql://nope:hunter2@127.0.0.1:1/x", "postgresql://nope:***@127.0.0.1:1/x"),
    ("foo://", "foo://"),
    ("sqlite:////nonexistent-dir/sub/runs.db", "sqlite:////nonexistent-dir/sub/runs.db"),
]


@pytest.mark.parametrize(("url", "shown"), BAD_URLS)
@pytest.mark.parametrize(
    "command",
    [
        ("runs", "list", "--db", "URL"),
        ("runs", "--db", "URL", "list"),
        ("workspace", "list", "--db", "URL"),
        ("workspace", "--db", "URL", "list"),
        ("run", "FLOW", "--db", "URL"),
        ("serve", "--port", "0", "--db", "URL"),
    ],
    ids=["runs-list", "runs-db-list", "workspace-list", "workspace-db-list", "run", "serve"],
)
def test_a_bad_database_url_is_one_line(tmp_path, home, url, shown, command):
    flow = tmp_path / "blank.flow.json"
    save(new_flow("Blank"), flow)
    args = [url if a == "URL" else str(flow) if a == "FLOW" else a for a in command]
    result = _cli(*args, home=home)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"aerostudio: cannot open the database {shown}: ")
    assert "hint: --db takes" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout


def test_db_is_taken_before_or_after_the_verb(tmp_path, home):
    flow = tmp_path / "done.flow.json"
    save(chain(trigger(), end("done", "ok")), flow)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    assert _cli("run", str(flow), "--db", db, home=home).returncode == 0
    after = _cli("runs", "list", "--db", db, home=home)
    before = _cli("runs", "--db", db, "list", home=home)
    default = _cli("runs", "list", home=home)
    assert after.returncode == before.returncode == default.returncode == 0
    assert "succeeded" in after.stdout and after.stdout == before.stdout
    assert default.stdout.strip() == ""  # the data directory's database has no runs
