"""The studio's commands, contributed to `aerostudio` (Qt is imported only when they run)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.errors import CliError


def register(subparsers: Any) -> None:
    studio = subparsers.add_parser(
        "studio",
        help="open the studio",
        description="Open the studio, optionally with a flow file.",
    )
    studio.add_argument("file", nargs="?", type=Path, help="a *.flow.json file to open")
    studio.set_defaults(handler=run_studio)


def run_studio(args: argparse.Namespace) -> int:
    from engine.flow import FlowLoadError

    try:
        from studio.app import run
    except ImportError as exc:
        raise CliError(
            f"the studio cannot start: {exc}",
            hint="install the studio extra: pip install 'aerostudio[studio]'",
        ) from None
    try:
        return run(args.file)
    except FlowLoadError as exc:
        raise CliError(str(exc)) from None
