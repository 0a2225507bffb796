"""A gallery query's rows and their indexes, built in a worker thread (load_gallery), and the row keys the model orders
them by.

Positions count from the END of the list (see ui/gallery.py), which prepending leaves unchanged."""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from services.errors import Cancelled
from services.library import GalleryRow as R

if TYPE_CHECKING:
    from services.library import HistoryQuery, Library
    from ui.gallery import GalleryModel


def date_of(row: tuple):
    return datetime.fromtimestamp(row[R.CREATED_AT]).date()


def key_of(row: tuple):
    return row[R.IMAGE_ID] if row[R.IMAGE_ID] is not None else ("g", row[R.GENERATION_ID])


def order_of(row: tuple) -> tuple:
    """The gallery's order as a sort key: newest first, then the higher image id (the library's ORDER BY)."""
    return (-row[R.CREATED_AT], -(row[R.IMAGE_ID] if row[R.IMAGE_ID] is not None else -1))


@dataclass
class GalleryListing:
    """A query's rows with their indexes (positions from the end), built in a worker thread (100,000 rows take
    tens of ms)."""

    rows: list[tuple]
    day_pos: set[int]
    key_pos: dict
    sha_pos: dict
    turns: dict  # generation id -> turns of its refine thread, for the tiles' badges (threads collapsed)
    ratings: dict = field(default_factory=dict)  # sha256 -> stars, -1 rejected

    @classmethod
    def of(cls, rows: list[tuple], turns: dict | None = None, days: bool = True) -> GalleryListing:
        last = len(rows) - 1
        key_pos = {key_of(r): last - i for i, r in enumerate(rows)}
        sha_pos = {r[R.SHA256]: last - i for i, r in enumerate(rows) if r[R.SHA256]}
        day_pos = {last - i for i in compute_day_starts(rows)} if days else set()  # no day chips in star order
        return cls(rows, day_pos, key_pos, sha_pos, turns or {})


def compute_day_starts(rows: list[tuple]) -> set[int]:
    starts = set()
    previous = None
    for i, row in enumerate(rows):
        day = date_of(row)
        if day != previous:
            starts.add(i)
            previous = day
    return starts


# Rows shown before the rest is read, at least: the window asks for three screens of its view when they hold more
# (GalleryView.first_rows: ~50 at the default tiles, ~1,400 at the smallest on a 4K display). A broad search walks
# generations until it has them: 1,500 walked 28,000 for a two-word search; at 100,000 images the p95 of the
# benchmark's 50 searches' SQL was ~40 ms at 600 and ~25 at 300. The rest follows in 0.1-0.6 s, appended without
# moving the view.
FIRST_ROWS = 300


async def load_gallery(
    model: GalleryModel, library: Library, query: HistoryQuery, first_rows: int = FIRST_ROWS
) -> AsyncIterator[bool]:
    """Shows the first screens of a query at once, then all of it: a 100,000-image library or a broad search
    paints in tens of ms instead of waiting ~0.5 s for every row. Yields after each step; True when complete.

    Closed or cancelled (a newer query took over), it stops its worker's read too: a worker cannot be cancelled,
    and ten searches typed in a row left ten listings of up to 100,000 rows running at once, which held the GIL
    the window needed."""
    stop = threading.Event()

    def listing(limit: int | None) -> GalleryListing:
        turns = library.thread_turns() if query.threads_collapsed else {}
        rows, ratings = library.gallery_with_ratings(query, limit, cancelled=stop.is_set)
        if stop.is_set():
            raise Cancelled()
        listing = GalleryListing.of(rows, turns, days=not query.by_rating)
        listing.ratings = ratings
        return listing

    try:
        first = await asyncio.to_thread(listing, first_rows)
        model.set_rows(first)
        complete = len(first.rows) < first_rows
        yield complete
        if not complete:
            everything = await asyncio.to_thread(listing, None)
            model.extend(everything)
            yield True
    finally:
        stop.set()


DISPOSE_FROM = 5000  # rows: a smaller listing is freed where it is dropped
_DISPOSE_SLICE = 2000
_disposals: queue.SimpleQueue = queue.SimpleQueue()
_disposer: threading.Thread | None = None


def dispose(*containers) -> None:
    """Lists and dicts of a replaced listing, freed in a worker a slice at a time. Dropped at once on the GUI
    thread, 98,000 rows are ~40 ms of deallocation with the GIL held (a stall at the first search after a full
    grid); a slice is ~1 ms, and the GIL changes hands between slices. A container someone else still holds is
    only let go of, never emptied."""
    global _disposer
    if _disposer is None or not _disposer.is_alive():
        _disposer = threading.Thread(target=_dispose_forever, name="atelier-dispose", daemon=True)
        _disposer.start()  # waiting for work before it has any: start() does not race it for the GIL
    _disposals.put(containers)


def _dispose_forever() -> None:
    while True:
        containers = _disposals.get()
        for container in containers:
            if sys.getrefcount(container) > 3:  # this tuple, this loop's name, getrefcount's argument: no one else
                continue
            if isinstance(container, list):
                while container:
                    del container[-_DISPOSE_SLICE:]
            elif isinstance(container, dict | set):
                take = container.pop if isinstance(container, set) else container.popitem
                while container:
                    for _ in range(min(_DISPOSE_SLICE, len(container))):
                        take()
        containers = container = take = None  # nothing of the last disposal kept while waiting for the next
