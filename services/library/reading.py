"""What an image file in the library says about itself: enough to index it without the database.

A file that cannot be read or is not a whole image raises UnreadableFile with a sentence saying why; the rebuild and
the recovery skip it and go on with the next file. A whole image whose metadata is damaged is still an image: it is
read as having no metadata (nothing the artist owns is left out), and `problems` says what was damaged.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from services import metadata
from services.errors import UnreadableFile
from services.import_reading import read_whole_image


@dataclass(frozen=True)
class Story:
    """Atelier's metadata of one image (embedded or in the sidecar), checked field by field."""

    generation_id: str
    index: int
    created_at: float | None
    model: str
    endpoint: str | None
    request: dict
    text: str


@dataclass(frozen=True)
class ImageFile:
    mime: str
    width: int
    height: int
    sha256: str
    size: int
    story: Story | None  # None when the file has no Atelier metadata (another tool's image)
    problems: tuple[str, ...] = ()  # damaged metadata read as none

    def image_values(self, rel_path: str, created_at: float) -> tuple:
        """idx, path, width, height, mime_type, sha256, size_bytes, created_at: the images row after generation_id."""
        index = self.story.index if self.story else 0
        return (index, rel_path, self.width, self.height, self.mime, self.sha256, self.size, created_at)


def read_image_file(path: Path) -> ImageFile:
    data, mime, width, height, _ = read_whole_image(path, max_bytes=None)  # Atelier's own: any size it wrote
    problems: list[str] = []
    record = metadata.read_embedded(data, str(path), problems) or metadata.read_sidecar(path, problems)
    story = None
    if isinstance(record, dict) and "generation_id" in record:
        try:
            story = story_of(record)
        except UnreadableFile as exc:
            problems.append(str(exc))
    return ImageFile(mime, width, height, hashlib.sha256(data).hexdigest(), len(data), story, tuple(problems))


def story_of(record: dict) -> Story:
    def damaged(field: str) -> UnreadableFile:
        return UnreadableFile(f"Its Atelier metadata is damaged (the field {field!r} has a wrong value).")

    gid = record.get("generation_id")
    if not isinstance(gid, str | int) or isinstance(gid, bool) or not str(gid).strip():
        raise damaged("generation_id")
    index = record.get("index") or 0
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 10_000:
        raise damaged("index")
    created = record.get("created_ts")
    if created is not None and (
        not isinstance(created, int | float) or isinstance(created, bool) or not math.isfinite(created)
    ):
        raise damaged("created_ts")
    request = record.get("request") or {}
    if not isinstance(request, dict) or not isinstance(request.get("prompt", ""), str):
        raise damaged("request")
    model = record.get("model") or request.get("model") or "unknown"
    endpoint = record.get("endpoint")
    text = record.get("text") or ""
    for name, value in (("model", model), ("text", text)):
        if not isinstance(value, str):
            raise damaged(name)
    if endpoint is not None and not isinstance(endpoint, str):
        raise damaged("endpoint")
    return Story(str(gid), index, float(created) if created is not None else None, model, endpoint, request, text)
