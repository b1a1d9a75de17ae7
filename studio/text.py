"""Small wording helpers shared by the panels."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """ "1 error", "2 errors": counts read as sentences, never "1 errors"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
