"""Settings every test process starts with (and the processes it starts inherit)."""

from __future__ import annotations

import os

import pytest

# No keyring unless a test sets one (tests/memory_keyring.py): the machine's own is never
# touched, and the default does not depend on which test modules were imported. (Importing the
# memory backend made it keyring's default, so the master key went into this process's memory
# while the processes a test starts used a key file: two keys for one database.)
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"


# ------------------------------------------------------------------ the planted secret scan
# The secret tests plant tests.planted.PLANTED in a vault. After the session, no form of it may
# be found in what the tests captured (output, logs, failure reports) or left in their data
# folders (pytest's temporary folders): the vault keeps ciphertext only. Workers of pytest-xdist
# send their reports to the controller, whose temporary folder holds theirs: it alone scans.

_leaks: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    from tests.planted import found_in

    texts = [(f"captured {name}", text) for name, text in report.sections]
    texts.append(("the failure report", report.longreprtext))
    for where, text in texts:
        found = found_in(text)
        line = f"{report.nodeid}: {where}: {', '.join(found)}"
        if found and line not in _leaks:  # a report repeats the sections of earlier phases
            _leaks.append(line)


@pytest.hookimpl(tryfirst=True)  # before pytest removes temporary folders it need not keep
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.planted import leaks

    config = session.config
    if hasattr(config, "workerinput"):
        return
    factory = getattr(config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    if basetemp is not None and basetemp.is_dir():
        for path, found in leaks(basetemp):
            _leaks.append(f"{path}: {', '.join(found)}")
    if not _leaks:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "the planted secret was found (tests/planted.py)", red=True)
        for line in _leaks:
            reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
