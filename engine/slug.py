"""Slugs: the stable, URL-safe names of flows and workspaces."""

from __future__ import annotations

import re
import unicodedata


def slugify(name: str) -> str:
    """`Support triage!` -> `support-triage`: a valid flow id (falls back to `flow`)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    return slug or "flow"


WORKSPACE_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def workspace_slug_problem(slug: str) -> str | None:
    """Why `slug` cannot name a workspace (it picks a vault and a folder, so nothing that could
    leave one: no '/', '.', or upper case), or None when it can."""
    if WORKSPACE_SLUG.fullmatch(slug):
        return None
    return (
        f"workspace '{slug}' is not a workspace slug: lower-case letters, digits, '-' and '_', "
        "starting with a letter or digit, at most 64"
    )
