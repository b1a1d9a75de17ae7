"""HTTP clients for what nodes send (http_request, auth webhooks). Building a TLS context costs
about 75 ms of CPU, more than most runs spend elsewhere: it is built once per process and shared
(an `ssl.SSLContext` is safe to share across threads and event loops)."""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


def client(timeout_s: float = 30) -> httpx2.AsyncClient:
    """A client for one node's requests; close it (`async with`) when the node is done."""
    return httpx2.AsyncClient(timeout=timeout_s, verify=_tls())
