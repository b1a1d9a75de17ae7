"""`aerostudio token rate`: how many tool calls a minute one token may make through the gateway
(engine.gateway.rates; a workspace's rate is `aerostudio workspace rate-limit`)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.gateway import (
    add_rate,
    add_workspace,
    check_workspace,
    gateway_errors,
    open_gateway,
    rate_value,
)


def register_token(verbs: Any) -> None:
    rate = verbs.add_parser("rate", help="a token's own tool calls a minute")
    rate.add_argument("token_id", metavar="ID")
    add_workspace(rate)
    add_rate(rate, "the workspace's rate")
    rate.set_defaults(handler=token_rate)


def rate_text(own: int | None, workspace: int | None) -> str:
    """A token's effective rate and where it comes from, for listings."""
    from engine.gateway.rates import effective

    source = "token" if own is not None else "workspace" if workspace is not None else "default"
    return f"{effective(own, workspace)}/min ({source})"


def token_rate(args: argparse.Namespace) -> int:
    from engine.gateway.rates import Rates

    gateway = open_gateway(args)
    slug = check_workspace(gateway, args.workspace)
    value = rate_value(args)
    rates = Rates(gateway.engine)
    with gateway_errors(hint=f"aerostudio token list --workspace {slug}"):
        rates.set_token(slug, args.token_id, value)
    shown = rate_text(value, rates.workspace(slug))
    print(f"token {args.token_id} of workspace {slug}: {shown}")
    return 0
