"""The studio's commands, contributed to `aerostudio` (Qt is imported only when they run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from engine.cli.errors import CliError, UsageError


def register(subparsers: Any) -> None:
    studio = subparsers.add_parser(
        "studio",
        help="open the studio",
        description="Open the studio, optionally with a flow file.",
    )
    studio.add_argument("file", nargs="?", type=Path, help="a *.flow.json file to open")
    studio.set_defaults(handler=run_studio)

    export = subparsers.add_parser(
        "export-image",
        help="draw a flow as a PNG or SVG image",
        description="Draw a flow's canvas as an image (no display needed).",
    )
    export.add_argument("file", type=Path, metavar="FLOW", help="a *.flow.json file")
    export.add_argument("output", type=Path, metavar="OUT", help="the image: OUT.png or OUT.svg")
    export.add_argument("--scale", type=float, default=1.0, help="PNG pixels per canvas unit")
    export.add_argument("--theme", choices=("dark", "light"), default="dark")
    export.set_defaults(handler=run_export_image)


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


def run_export_image(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{args.output}: unknown image format", hint="name it OUT.png or OUT.svg")
    if not 0 < args.scale <= 16:
        raise UsageError(f"--scale {args.scale}: must be above 0 and at most 16")
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and os.name == "posix" and sys.platform != "darwin":
        os.environ["QT_QPA_PLATFORM"] = os.environ.get("QT_QPA_PLATFORM") or "offscreen"
    from engine.flow import FlowLoadError

    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:
        raise CliError(
            f"cannot draw images: {exc}",
            hint="install the studio extra: pip install 'aerostudio[studio]'",
        ) from None
    # Before the canvas modules: their fonts take the application's default family.
    _app = QApplication.instance() or QApplication(sys.argv[:1])
    from studio.export import ExportError, export_flow

    try:
        size = export_flow(args.file, args.output, args.scale, args.theme)
    except (FlowLoadError, ExportError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}") from None
    print(f"wrote {args.output} ({size.width()}x{size.height()} px)")
    return 0
