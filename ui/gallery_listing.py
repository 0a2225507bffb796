"""A gallery query's rows and their indexes, built in a worker thread, and the row keys the model orders them by.

Positions count from the END of the list (see ui/gallery.py), which prepending leaves unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.library import GalleryRow as R


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
