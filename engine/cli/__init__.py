"""The `aerostudio` command.

Each command module registers its subcommands with `register(subparsers)`; a subcommand sets
`handler`, a function of the parsed arguments returning the exit code. Heavy imports stay inside
handlers so that `aerostudio --help` and the studio start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine import __version__
from engine.cli.errors import CliError

# The studio contributes its own commands; the engine never imports it otherwise.
COMMAND_MODULES = (
    "engine.cli.flows",
    "engine.cli.runs",
    "engine.cli.gateway",
    "engine.cli.runtime",
    "engine.cli.deploy",
    "studio.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aerostudio",
        description="Aerostudio: build, run, debug and serve AI workflows over MCP.",
    )
    parser.add_argument("--version", action="version", version=f"aerostudio {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _studio_argv(argv: list[str]) -> list[str] | None:
    """`aerostudio` alone or `aerostudio FILE.flow.json` opens the studio."""
    if not argv:
        return ["studio"]
    if len(argv) == 1 and argv[0].endswith(".flow.json"):
        return ["studio", argv[0]]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args_list = _studio_argv(args_list) or args_list
    parser = build_parser()
    args = parser.parse_args(args_list)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except CliError as exc:
        print(f"aerostudio: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aerostudio: interrupted", file=sys.stderr)
        return 130
