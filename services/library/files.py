"""The library's files: where each kind lives, atomic writes with the metadata inside or beside, thumbnails, the
kept reference images, and the library's own trash folder.

    images/YYYY/MM/DD/<time>_<prompt-slug>_<generation>_<n>.<ext>   the images, metadata inside (or a sidecar)
    references/<sha[:2]>/<sha>.<ext>                                 every reference image sent, once, by content
    .atelier/index.sqlite3                                           the index
    .atelier/thumbs/<sha[:2]>/<sha>.jpg                              one thumbnail per image, made once
    .atelier/trash/images/...                                        deleted images until purged (never indexed)

Functions here raise OSError; the facade turns it into a LibraryError.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from services import imaging, metadata
from services.settings import write_atomically
from services.types import ReceivedImage, ReferenceImage

GENERATOR = "Atelier 0.1.0"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
REFERENCE_EXTENSIONS = {**imaging.EXTENSIONS, "image/heic": ".heic", "image/heif": ".heif"}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def slugify(text: str, limit: int = 40) -> str:
    """A file-name-safe slug on every OS: ASCII letters, digits and dashes only, never empty, never reserved."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:limit].strip("-")
    return slug or "image"


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + metadata.SIDECAR_SUFFIX)


class Files:
    def __init__(self, root: Path):
        self.root = root
        self.images_dir = root / "images"
        self.references_dir = root / "references"
        self.meta_dir = root / ".atelier"
        self.thumbs_dir = self.meta_dir / "thumbs"
        self.trash_dir = self.meta_dir / "trash"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # --- images --------------------------------------------------------------------------------------------------

    def image_path(self, generation_id: str, index: int, prompt: str, mime: str, created_at: float) -> Path:
        moment = datetime.fromtimestamp(created_at)
        folder = self.images_dir / moment.strftime("%Y/%m/%d")
        name = f"{moment.strftime('%Y%m%d-%H%M%S')}_{slugify(prompt)}_{generation_id[:8]}_{index + 1}"
        return folder / (name + imaging.EXTENSIONS.get(mime, ".bin"))

    def write_image(self, path: Path, image: ReceivedImage, record: dict) -> bytes:
        """The bytes written: the server's, with the metadata inside where that breaks nothing, else beside."""
        if metadata.can_embed(image.data, image.mime_type):
            data = metadata.embed(image.data, image.mime_type, record, image.width, image.height)
        else:
            data = image.data
            # The sidecar goes first, so that an image on disk always has its story beside it.
            write_atomically(sidecar_of(path), metadata.sidecar_bytes(record))
        write_atomically(path, data)
        return data

    def check_writable(self) -> None:
        probe = self.images_dir / f".write-probe-{os.getpid()}-{threading.get_ident()}"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"x")
        probe.unlink()

    # --- thumbnails ----------------------------------------------------------------------------------------------

    def thumbnail_path(self, sha: str) -> Path:
        return self.thumbs_dir / sha[:2] / f"{sha}.jpg"

    def write_thumbnail(self, image_path: Path, sha: str) -> Path | None:
        target = self.thumbnail_path(sha)
        if target.exists():
            return target
        try:
            made = imaging.make_thumbnail(image_path, target)
        except OSError:
            made = False  # a missing thumbnail is remade on demand; never fail the save for it
        return target if made else None

    # --- reference images ----------------------------------------------------------------------------------------

    def reference_path(self, sha: str, mime: str) -> Path:
        return self.references_dir / sha[:2] / f"{sha}{REFERENCE_EXTENSIONS.get(mime, '.bin')}"

    def keep_references(self, references: tuple[ReferenceImage, ...]) -> None:
        """Each reference's bytes, once: the same content is the same file, so a file there is already right."""
        for reference in references:
            path = self.reference_path(reference.sha256, reference.mime_type)
            if not path.exists():
                write_atomically(path, reference.data)

    def reference_bytes(self, sha: str, mime: str) -> bytes | None:
        """The kept bytes, or None when they are gone or no longer what was sent."""
        try:
            data = self.reference_path(sha, mime).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha else None

    # --- the library's trash -------------------------------------------------------------------------------------

    def is_image_key(self, rel: str) -> bool:
        """A path relative to the root, inside images/ (a key from trash(); anything else is refused)."""
        parts = PurePosixPath(rel).parts
        return len(parts) > 1 and parts[0] == "images" and ".." not in parts and not PurePosixPath(rel).is_absolute()

    def in_trash(self, rel: str) -> Path:
        return self.trash_dir / rel

    def move_to_trash(self, rel: str) -> None:
        """The image first, then its sidecar: images/ never holds an image without its story."""
        self._move(self.root / rel, self.in_trash(rel))

    def move_back(self, rel: str) -> None:
        """The sidecar first, then the image."""
        source = self.in_trash(rel)
        target = self.root / rel
        if target.exists():
            raise FileExistsError(17, "A file with this name is already in the library", str(target))
        self._move(source, target, sidecar_first=True)

    @staticmethod
    def _move(source: Path, target: Path, sidecar_first: bool = False) -> None:
        pairs = [(source, target), (sidecar_of(source), sidecar_of(target))]
        if sidecar_first:
            pairs.reverse()
        target.parent.mkdir(parents=True, exist_ok=True)
        for a, b in pairs:
            if a.exists():
                os.replace(a, b)

    def trashed_images(self) -> list[str]:
        """Keys (paths relative to the root) of the images waiting in the library's trash."""
        folder = self.trash_dir / "images"
        if not folder.is_dir():
            return []
        return sorted(
            p.relative_to(self.trash_dir).as_posix()
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        )

    def remove_empty_trash_folders(self) -> None:
        folder = self.trash_dir / "images"
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                try:
                    path.rmdir()  # only when empty
                except OSError:
                    pass
