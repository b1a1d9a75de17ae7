"""Errors a command reports as one line on stderr, with a hint where one helps."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class CliError(Exception):
    """A failure to report to the user: what went wrong and where, then how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(f"{message} (hint: {hint})" if hint else message)
        self.exit_code = exit_code


class UsageError(CliError):
    """Arguments that do not make sense together: exit code 2."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, exit_code=2)


def shown_url(url: str) -> str:
    """A database URL fit to print: its password, if any, replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


DB_HINT = (
    "--db takes sqlite:///PATH (its folder must exist) or postgresql://USER:PASSWORD@HOST:PORT/DB "
    "of a running server; leave it out for the data directory's SQLite"
)


# What SQLAlchemy and the drivers raise for a URL they cannot parse or load, or a database they
# cannot reach or open: anything else is a bug to show whole.
_OPENING_ERRORS = frozenset({"ArgumentError", "NoSuchModuleError", "OperationalError"})


def database_error(exc: BaseException, url: str | None) -> CliError | None:
    """A one-line error for a database that cannot be opened, or None if `exc` is not one.
    Recognised by module name, so building the parser imports no database library."""
    kind = type(exc)
    if (
        not url
        or not kind.__module__.startswith(("sqlalchemy", "psycopg", "sqlite3", "dbos"))
        or kind.__name__ not in _OPENING_ERRORS
    ):
        return None
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = reason[0] if reason else type(exc).__name__
    password = _password(url)
    if password:
        detail = detail.replace(password, "***")
    return CliError(f"cannot open the database {shown_url(url)}: {detail}", hint=DB_HINT)


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None
