"""A concurrency limit that can change while calls hold slots."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class ParallelLimit:
    """At most `limit` holders at once, and the limit can change while calls hold slots: calls already running keep
    their slot until they end, and the new limit holds for every call that starts after the change (a swapped
    Semaphore let the old and the new holders add up). Waiters are served in order."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future] = deque()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.active += 1  # the slot is handed over before the waiter runs again
                waiter.set_result(None)

    async def __aenter__(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot, then cancelled: give it back
                self.active -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc) -> None:
        self.active -= 1
        self._wake()
