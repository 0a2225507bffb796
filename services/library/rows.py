"""What the library's readers get back: history entries, gallery rows, and the query that selects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from services.library.files import iso
from services.status import Status
from services.types import SavedImage


@dataclass
class HistoryEntry:
    generation_id: str
    created_at: float
    prompt: str
    model: str
    status: Status
    reason: str | None
    text: str
    params: dict
    endpoint: str | None
    error: dict | None
    attempts: int
    cost_usd: float | None
    images: list[SavedImage] = field(default_factory=list)

    @property
    def source(self) -> str:
        """The tool that made it: "atelier" for Atelier's own generations, else as importing.py recorded it."""
        return str(self.params.get("source") or "atelier") if self.status == Status.IMPORTED else "atelier"

    def as_json(self) -> dict:
        imported = self.status == Status.IMPORTED
        return {
            "generation_id": self.generation_id,
            "created_at": iso(self.created_at),
            "prompt": self.prompt,
            "model": self.params.get("model") if imported else self.model,
            "status": str(self.status),
            "source": self.source,
            "reason": self.reason,
            "text": self.text,
            "images": [i.as_json() for i in self.images],
            "attempts": self.attempts,
            "cost_usd": self.cost_usd,
            "error": self.error,
            "batch_id": self.params.get("batch_id"),  # the batch a result came from; null outside batches
            **self.lineage_json(),
        }

    def lineage_json(self) -> dict:
        """{parent_generation_id, thread_id}: null and this generation's own id for a thread's root."""
        lineage = self.params.get("lineage") if isinstance(self.params, dict) else None
        lineage = lineage if isinstance(lineage, dict) else {}
        return {
            "parent_generation_id": lineage.get("parent_generation_id"),
            "thread_id": lineage.get("thread_id") or self.generation_id,
        }


@dataclass(frozen=True)
class HistoryQuery:
    search: str = ""
    model: str | None = None
    statuses: tuple[str, ...] = ()  # Status values; empty: all
    favourites_only: bool = False
    since: float | None = None
    until: float | None = None
    include_failed: bool = True
    board: str | None = None  # only images on this board
    tag: str | None = None  # only images with this tag
    min_rating: int | None = None  # only images with at least this many stars
    include_rejected: bool = False  # rejected images are hidden unless asked
    by_rating: bool = False  # the gallery: most stars first (then newest), attempts without an image left out
    oldest_first: bool = False  # the gallery: oldest first (by_rating wins when both are set)
    threads_collapsed: bool = False  # the gallery: of each refine thread, only its newest generation's images


EVERYTHING = HistoryQuery()  # the default query: every attempt, newest first


class GalleryRow(NamedTuple):
    """One tile of the gallery: an image, or an attempt without one (image_id None). Made only by the library.

    A tuple, so 100,000 load fast; the columns' order is this class's, and the queries select in it. Positional
    access (`row[GalleryRow.PATH]`) works as well as `row.path`.
    """

    image_id: int | None
    generation_id: str
    created_at: float  # the generation's
    status: str  # a stored Status value; `state` gives the Status
    sha256: str | None
    path: str | None  # relative to the library root
    width: int
    height: int
    favourite: int
    model: str
    reason: str | None
    source: str | None = None  # an imported image's tool (a1111, comfyui, ... see interop.SOURCES); None: Atelier's

    @property
    def state(self) -> Status:
        return Status(self.status)


# GalleryRow.IMAGE_ID == 0 ... GalleryRow.SOURCE == 11, from the fields above (one order, written once).
for _position, _name in enumerate(GalleryRow._fields):
    setattr(GalleryRow, _name.upper(), _position)
del _position, _name
