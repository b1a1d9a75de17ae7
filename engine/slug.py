"""Slugs: the stable, URL-safe names of flows and workspaces."""

from __future__ import annotations

import re
import unicodedata


def slugify(name: str) -> str:
    """`Support triage!` -> `support-triage`: a valid flow id (falls back to `flow`)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    return slug or "flow"
