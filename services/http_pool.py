"""One HTTP client per endpoint, reused by every job and every model discovery, closed once at exit.

A new `httpx.AsyncClient` costs 50-100 ms (TLS context, pool); a job or a discovery borrows the endpoint's client
instead and never closes it. The pool is per server root, so a key never travels to another server's connections.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from services.client import new_http_client
from services.endpoints import Endpoint

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


class HttpPool:
    def __init__(self, factory: Callable[[], httpx.AsyncClient] = new_http_client):
        self._factory = factory
        self._clients: dict[str, httpx.AsyncClient] = {}
        self.created = 0  # how many clients were ever made (a test checks reuse)
        self._lock = threading.Lock()

    def client_for(self, endpoint: Endpoint) -> httpx.AsyncClient:
        """The endpoint's client, made on first use; may be called from a worker thread to make it there (the
        client binds to no event loop until its first request)."""
        with self._lock:
            client = self._clients.get(endpoint.base_url)
            if client is None or client.is_closed:
                client = self._factory()
                self._clients[endpoint.base_url] = client
                self.created += 1
            return client

    async def aclose(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                await client.aclose()
            except Exception as exc:  # closing at exit: nothing left to tell
                log.info("closing an HTTP client failed: %s", type(exc).__name__)
