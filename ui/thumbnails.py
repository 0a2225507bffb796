"""Worker threads that decode thumbnails to QImages at the display size (QPixmap only on the GUI thread)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

from PySide6.QtGui import QImage

from services.library import Library
from ui.drafts import preview_file


class ThumbnailLoader:
    """Worker threads that turn thumbnail files into QImages, newest request first (what is on screen now).

    A bound method as `deliver` is held weakly, and its object's end stops the workers: a strong one made a cycle
    (model -> loader -> bound method -> model) that kept a replaced model and its 100,000 rows (45 MB at 100,000
    images) until CPython's cycle collector ran."""

    def __init__(self, library: Library, deliver: Callable[[int, str, QImage | None], None], workers: int = 2):
        self.library = library
        owner = getattr(deliver, "__self__", None)
        self._deliver: Callable[[], Callable | None] = weakref.WeakMethod(deliver) if owner else (lambda: deliver)
        if owner is not None:
            weakref.finalize(owner, self.halt)
        self._queue: list[tuple[int, str, str, int]] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._loop = asyncio.get_event_loop()
        self._threads = [
            threading.Thread(target=self._work, name=f"thumbnails-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def request_many(self, requests: list[tuple[int, str, str, int]]) -> list[str]:
        """Queues (generation, sha, path, edge) requests at once (a paint's tiles take the workers' lock once, not once
        each: each handover of that lock is a trip through the scheduler while the workers run). Returns the shas of
        the oldest requests dropped to make room (far off screen)."""
        dropped: list[tuple] = []
        with self._cv:
            self._queue.extend(requests)
            if len(self._queue) > 400:
                dropped = self._queue[:200]
                del self._queue[:200]
            self._cv.notify(len(requests))
        return [d[1] for d in dropped]

    def forget(self) -> None:
        with self._cv:
            self._queue.clear()

    def halt(self) -> None:
        """Tells the workers to end after the thumbnail each is decoding, without waiting for them."""
        with self._cv:
            self._stopped = True
            self._queue.clear()
            self._cv.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the workers and joins them (a worker finishes the thumbnail it is decoding first)."""
        self.halt()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def alive(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                generation, sha, path, edge = self._queue.pop()
            image = None
            try:
                thumb = self.library.ensure_thumbnail(path, sha)
                if thumb is not None:
                    image = preview_file(str(thumb), edge)
            except Exception:
                image = None
            deliver = self._deliver()
            if self._stopped or deliver is None:
                return
            try:
                self._loop.call_soon_threadsafe(deliver, generation, sha, image)
            except RuntimeError:  # the loop has closed: the window is gone
                return
