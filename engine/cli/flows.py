"""Commands on flow files: validate, schema, new."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.cli.errors import CliError


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check flow files",
        description="Check flow files against the rules of docs/flows.md §5.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="*.flow.json files")
    validate.add_argument("--json", action="store_true", help="print a JSON list of issues")
    validate.set_defaults(handler=run_validate)

    schema = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of the flow format",
        description="Print the JSON Schema (draft 2020-12) of *.flow.json files.",
    )
    schema.set_defaults(handler=run_schema)

    from engine.flow.templates import TEMPLATES

    new = subparsers.add_parser(
        "new",
        help="write a starter flow",
        description="Write a starter flow to NAME's file.",
        epilog="templates: " + "; ".join(f"{k}: {v[0]}" for k, v in TEMPLATES.items()),
    )
    new.add_argument("name", metavar="NAME", help="the flow's name, e.g. 'Support triage'")
    new.add_argument("--template", "-t", default="blank", choices=sorted(TEMPLATES))
    new.add_argument("--workspace", "-w", help="workspace whose tools and secrets it uses")
    new.add_argument("--output", "-o", type=Path, help="file to write (default: <id>.flow.json)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(handler=run_new)


def _issue_records(path: str) -> list[dict[str, Any]]:
    from engine.flow import FlowLoadError, load, validate

    try:
        flow = load(path)
    except FlowLoadError as exc:
        return [
            {
                "file": path,
                "severity": "error",
                "code": "flow.load",
                "message": message,
                "node_id": None,
                "field": where,
                "edge_id": None,
            }
            for where, message in exc.problems
        ]
    return [{"file": path, **issue.to_dict()} for issue in validate(flow)]


def issue_at(record: dict[str, Any]) -> str:
    """Where an issue is, as `validate` prints it: node.field, an edge, or a flow field."""
    if record["node_id"]:
        return str(record["node_id"]) + (f".{record['field']}" if record["field"] else "")
    if record["edge_id"]:
        return f"edge {record['edge_id']}"
    return str(record["field"] or "flow")


def run_validate(args: argparse.Namespace) -> int:
    records = [record for path in args.files for record in _issue_records(path)]
    errors = sum(r["severity"] == "error" for r in records)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        for r in records:
            print(f"{r['file']}: {issue_at(r)}: {r['severity']} {r['code']}: {r['message']}")
        warnings = len(records) - errors
        files = len(args.files)
        summary = f"{files} file{'s' * (files != 1)}: {errors} error{'s' * (errors != 1)}, "
        print(summary + f"{warnings} warning{'s' * (warnings != 1)}", file=sys.stderr)
    return 1 if errors else 0


def run_schema(args: argparse.Namespace) -> int:
    from engine.flow.schema import flow_schema

    print(json.dumps(flow_schema(), indent=2, ensure_ascii=False))
    return 0


def run_new(args: argparse.Namespace) -> int:
    from engine.flow import save
    from engine.flow.templates import new_flow

    flow = new_flow(args.name, args.template, args.workspace)
    target: Path = args.output or Path(f"{flow.id}.flow.json")
    if target.exists() and not args.force:
        raise CliError(f"{target} already exists", hint="choose another --output or add --force")
    if not target.parent.is_dir():
        raise CliError(f"{target.parent} is not a folder", hint="create it first")
    save(flow, target)
    print(f"wrote {target} ({args.template} template, {len(flow.nodes)} nodes)")
    return 0
