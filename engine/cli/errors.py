"""Errors a command reports as one line on stderr, with a hint where one helps."""

from __future__ import annotations


class CliError(Exception):
    """A failure to report to the user: what went wrong and where, then how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(f"{message} (hint: {hint})" if hint else message)
        self.exit_code = exit_code


class UsageError(CliError):
    """Arguments that do not make sense together: exit code 2."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, exit_code=2)
