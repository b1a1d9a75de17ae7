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
from engine.cli.errors import CliError, database_error

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
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                _db_on_every_verb(command)
    return parser


def _db_on_every_verb(parser: argparse.ArgumentParser) -> None:
    """`runs --db URL list` and `runs list --db URL` both work: a group's --db is taken after
    each verb too, and a group whose verbs take --db takes it before them (given after the
    verb, it wins; left out there, the group's stays)."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        verbs = list({id(p): p for p in action.choices.values()}.values())
        for verb in verbs:
            _db_on_every_verb(verb)
        own = parser._option_string_actions.get("--db")
        found = [
            v._option_string_actions["--db"] for v in verbs if "--db" in v._option_string_actions
        ]
        template = own or (found[0] if found else None)
        if template is None:
            continue
        if own is None:
            parser.add_argument("--db", metavar=template.metavar, help=template.help)
        for verb in verbs:
            db = verb._option_string_actions.get("--db")
            if db is None and own is not None:
                verb.add_argument(
                    "--db", metavar=template.metavar, default=argparse.SUPPRESS, help=template.help
                )
            elif db is not None and db.default is None:
                db.default = argparse.SUPPRESS


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
    except Exception as exc:
        problem = database_error(exc, getattr(args, "db", None))
        if problem is None:
            raise
        print(f"aerostudio: {problem}", file=sys.stderr)
        return problem.exit_code
    except KeyboardInterrupt:
        print("aerostudio: interrupted", file=sys.stderr)
        return 130
