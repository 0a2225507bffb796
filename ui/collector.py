"""The cycle collector kept off the rows the gallery holds (see collections_paused)."""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_pausing = threading.Lock()
_paused = 0


@contextmanager
def collections_paused():
    """No cycle collection while a listing is built, then what is alive is frozen out of later ones. A GalleryRow
    (a tuple subclass) stays tracked by the collector, so every full pass walked every row: 40-170 ms with the GIL
    held, at 100,000 rows the window's longest stalls, and a listing being built set off several. The rows hold no
    cycles: reference counting frees them when a listing is replaced."""
    global _paused
    with _pausing:
        _paused += 1
        gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        with _pausing:
            _paused -= 1
            if not _paused:
                gc.enable()
