"""Host and Origin checks against DNS rebinding, and the limit on failed authentications per
client address, shared by the gateway and the engine API."""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping

from starlette.responses import JSONResponse

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def _hostname(host: str) -> str:
    """`example.com:8080` -> `example.com`; `[::1]:80` -> `[::1]`."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


class HostCheck:
    """Which Host and Origin headers a server answers: loopback names by default, plus the
    hosts and origins it is configured with."""

    def __init__(self, hosts: Iterable[str] = LOCAL_HOSTS, origins: Iterable[str] = ()) -> None:
        self.hosts = {h.lower() for h in hosts}
        self.origins = {o.lower().rstrip("/") for o in origins}

    def refusal(self, headers: Mapping[str, str]) -> tuple[int, str, str] | None:
        """(HTTP status, code, message) when the request must be refused, else None."""
        host = headers.get("host", "").lower()
        if _hostname(host) not in self.hosts:
            return 421, "invalid_host", f"Host '{host}' is not served here"
        origin = headers.get("origin", "").lower().rstrip("/")
        if origin and not self._origin_allowed(origin):
            return 403, "invalid_origin", f"Origin '{origin}' is not allowed"
        return None

    def _origin_allowed(self, origin: str) -> bool:
        if origin in self.origins:
            return True
        scheme, _, rest = origin.partition("://")
        hostname = _hostname(rest)
        return scheme in ("http", "https") and hostname in LOCAL_HOSTS and hostname in self.hosts


FAILURES_ENV = "AEROSTUDIO_MAX_AUTH_FAILURES"


class FailedAuth:
    """Failed authentications per client address: after `limit` failures within `window_s`
    seconds (20 a minute; a server sets the number with AEROSTUDIO_MAX_AUTH_FAILURES), further
    failures from that address are answered 429 (with Retry-After) instead of 401 until the
    window has moved past them. A request whose token is good is never held
    back. At most `max_addresses` addresses are remembered (the stalest are forgotten first),
    so a flood from many addresses cannot grow it without bound."""

    def __init__(
        self, limit: int = 20, window_s: float = 60.0, *, max_addresses: int = 10_000
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> FailedAuth:
        """The limit from the environment, or a ValueError naming the variable."""
        text = (os.environ if environ is None else environ).get(FAILURES_ENV, "").strip()
        if not text:
            return cls()
        if not text.isascii() or not text.isdigit() or int(text) < 1:
            raise ValueError(
                f"{FAILURES_ENV}: failures a minute per address (1 or more), not '{text}'"
            )
        return cls(int(text))

    def failed(self, address: str, now: float | None = None) -> float:
        """Record a failure from `address`; 0 while it is within its limit, else the seconds
        until it may fail again (the Retry-After)."""
        now = time.monotonic() if now is None else now
        times = self._failures.pop(address, None) or deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        over = len(times) >= self.limit
        times.append(now)
        while len(times) > self.limit:
            times.popleft()
        self._failures[address] = times
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
        return max(0.001, times[0] + self.window_s - now) if over else 0.0

    def __len__(self) -> int:
        return len(self._failures)


def client_address(scope: Mapping[str, object]) -> str:
    """The peer's address of an ASGI scope ('' when the server gives none)."""
    client = scope.get("client")
    if isinstance(client, tuple | list) and client:
        return str(client[0])
    return ""


def too_many_failures(wait_s: float) -> JSONResponse:
    """The 429 for an address past its failed authentications, with when to try again."""
    response = JSONResponse(
        {
            "error": "too_many_failures",
            "message": "too many requests with a bad token from this address; "
            f"try again in {math.ceil(wait_s)} s",
        },
        status_code=429,
    )
    response.headers["Retry-After"] = str(math.ceil(wait_s))
    return response
