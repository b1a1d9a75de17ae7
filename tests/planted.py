"""The secret value the secret tests plant, and how to look for it in text and in files.

The session-wide scan (tests/conftest.py) fails the test session when any form of PLANTED turns
up in the data folders the tests left or in captured output: only the vault (ciphertext) may
hold it. Failure messages name where a form was found, never the value itself.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.api.served import aerostudio

PLANTED = "PlantedSecret-7Hq2+vX/9kLmTw"
NAME = "API_TOKEN"
SCAN_FILE_MAX = 64 * 1024 * 1024


def forms(value: str = PLANTED) -> dict[str, bytes]:
    """The value as bytes, base64 at each alignment (the part made of its bits only), hex."""
    raw = value.encode()
    found = {"plain": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        core = encoded[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]
        found[f"base64@{offset}"] = core
        found[f"urlsafe-base64@{offset}"] = core.replace(b"+", b"-").replace(b"/", b"_")
    return found


def found_in(data: bytes | str) -> list[str]:
    """Which forms of PLANTED `data` holds."""
    blob = data.encode(errors="replace") if isinstance(data, str) else data
    return [name for name, form in forms().items() if form in blob]


def assert_clean(data: bytes | str, where: str) -> None:
    """Fail naming `where` and the forms found, without repeating the value."""
    found = found_in(data)
    assert not found, f"the planted secret ({', '.join(found)}) is in {where}"


def leaks(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """Files under `root` holding a form of PLANTED (links not followed; large files cut)."""
    for path in sorted(root.rglob("*")):
        try:
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as file:
                data = file.read(SCAN_FILE_MAX)
        except OSError:
            continue
        found = found_in(data)
        if found:
            yield path, found


def clean_cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`aerostudio ARGS` (see tests.api.served.aerostudio), whose output must hold no form of
    PLANTED, and which must succeed."""
    done = aerostudio(home, *args, stdin=stdin, check=False)
    assert_clean(done.stdout + done.stderr, f"the output of aerostudio {args[0]}")
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done
