"""Aggregated names: `server__tool`, safe for every client, collision-free and stable."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
RESOURCE_SCHEME = "aero+"


def aggregate(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Aggregated name -> (server, upstream name), for (server, upstream name) pairs.

    Names are `server__name` with characters outside `[A-Za-z0-9_-]` replaced by `_`. One that
    is too long, or that collides with another after the replacement, is cut and given a suffix
    hashed from the original pair, so it stays the same from one listing to the next."""
    names: dict[str, tuple[str, str]] = {}
    plain: dict[str, list[tuple[str, str]]] = {}
    for server, name in sorted(set(pairs)):
        plain.setdefault(_UNSAFE.sub("_", f"{server}__{name}"), []).append((server, name))
    for candidate, owners in plain.items():
        for server, name in owners:
            if len(owners) == 1 and len(candidate) <= MAX_NAME:
                names[candidate] = (server, name)
                continue
            digest = hashlib.sha256(f"{server}\0{name}".encode()).hexdigest()[:8]
            names[f"{candidate[: MAX_NAME - 9]}_{digest}"] = (server, name)
    return dict(sorted(names.items()))


def resource_uri(server: str, uri: str) -> str:
    """A resource's URI as the gateway shows it: the server in the scheme, unique by design."""
    return f"{RESOURCE_SCHEME}{server}:{uri}"


def split_resource_uri(uri: str) -> tuple[str, str]:
    """(server, upstream URI) of a gateway resource URI; ValueError for any other URI."""
    if not uri.startswith(RESOURCE_SCHEME) or ":" not in uri[len(RESOURCE_SCHEME) :]:
        raise ValueError(f"'{uri}' is not a resource of this gateway")
    server, _, upstream = uri[len(RESOURCE_SCHEME) :].partition(":")
    return server, upstream
