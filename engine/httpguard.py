"""Host and Origin checks against DNS rebinding, shared by the gateway and the engine API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
