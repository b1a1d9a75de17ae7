"""Where Aerostudio keeps its data and finds its bundled resources."""

from __future__ import annotations

import os
from pathlib import Path

_ENGINE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The data directory: `AEROSTUDIO_HOME`, else the platform's user data directory."""
    override = os.environ.get("AEROSTUDIO_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("aerostudio", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """The bundled resources: the source tree's `resources/`, or its copy inside a wheel."""
    for candidate in (_ENGINE_DIR.parent / "resources", _ENGINE_DIR / "_resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("Aerostudio's resources folder is missing from this installation")


def examples_dir() -> Path:
    return resources_dir() / "examples"
