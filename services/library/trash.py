"""Deleting images: at once into the library's trash folder, back with Undo, to the system trash at the purge.

A deleted image's file moves at once to `.atelier/trash/<its path>`, which the rebuild never scans, so a rebuild
cannot bring it back. Undo is keyed by the image's path relative to the library root, which a rebuild does not
change (image ids do). The purge (when the window closes) sends each file there to the system trash and forgets the
index row only once the file is really gone; a file the system trash refused stays, with its row, for the next purge.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from services.errors import LibraryError
from services.library import problems, queries
from services.library.files import sidecar_of
from services.library.reading import UnreadableFile, read_image_file
from services.library.rebuild import index_file
from services.library.rows import GalleryRow

if TYPE_CHECKING:
    from services.library import Library

log = logging.getLogger(__name__)


def _marks(count: int) -> str:
    return ",".join("?" * count)


def trash(library: Library, image_ids: Sequence[int]) -> list[str]:
    """Moves the images' files into the library's trash; returns their keys for restore()."""
    if not image_ids:
        return []
    index, files = library.index, library.files
    rows = index.rows(f"SELECT id, path FROM images WHERE NOT trashed AND id IN ({_marks(len(image_ids))})", image_ids)
    if not rows:
        return []
    index.write(f"UPDATE images SET trashed=1 WHERE id IN ({_marks(len(rows))})", [r[0] for r in rows])
    moved: list[str] = []
    try:
        for _, rel in rows:
            if not os.path.isabs(rel):  # an added folder's image (absolute path) stays where it is, hidden
                files.move_to_trash(rel)
            moved.append(rel)
    except OSError as exc:  # all or nothing: what moved comes back, every row is shown again
        for rel in moved:
            if not os.path.isabs(rel):
                files.move_back(rel)
        index.write(f"UPDATE images SET trashed=0 WHERE id IN ({_marks(len(rows))})", [r[0] for r in rows])
        raise problems.disk_problem(library.root, exc) from exc
    return moved


def restore(library: Library, keys: Iterable[str]) -> list[GalleryRow]:
    """Undoes trash(): the files move back and are shown again, indexed anew if a rebuild forgot them meanwhile."""
    index, files = library.index, library.files
    image_ids: list[int] = []
    for rel in keys:
        in_folder = index.one("SELECT id FROM images WHERE path=? AND folder_id IS NOT NULL", (rel,))
        if in_folder and os.path.isabs(rel):  # an added folder's image: it was only hidden
            index.write("UPDATE images SET trashed=0 WHERE id=?", (in_folder[0],))
            image_ids.append(in_folder[0])
            continue
        if not files.is_image_key(rel):
            raise LibraryError(f"{rel} is not an image of this library.")
        try:
            if files.in_trash(rel).exists():
                files.move_back(rel)
        except OSError as exc:
            raise problems.disk_problem(library.root, exc) from exc
        path = library.root / rel
        if not path.exists():
            log.warning("cannot restore %s: it is no longer in the library's trash", rel)
            continue
        known = index.one("SELECT id FROM images WHERE path=?", (rel,))
        if known:
            index.write("UPDATE images SET trashed=0 WHERE id=?", (known[0],))
            image_ids.append(known[0])
            continue
        try:
            found = read_image_file(path)
        except UnreadableFile as exc:
            log.warning("restored %s but cannot index it: %s", rel, exc)
            continue
        created = found.story.created_at if found.story and found.story.created_at else path.stat().st_mtime
        with index.transaction() as conn:
            image_ids.append(index_file(conn, found, rel, created))
    with index.session() as conn:
        return queries.gallery_rows(conn, image_ids, ())


def purge(library: Library) -> int:
    """Sends the trash folder's files to the system trash; forgets the rows of those really gone. The count gone."""
    import send2trash  # here, not at import: it reads XDG_DATA_HOME once, when first imported

    index, files = library.index, library.files
    trashed_rows = [r[0] for r in index.rows("SELECT path FROM images WHERE trashed")]
    for rel in trashed_rows:  # a delete cut short, or made before the trash folder existed: finish it
        if not os.path.isabs(rel) and (library.root / rel).exists() and not files.in_trash(rel).exists():
            try:
                files.move_to_trash(rel)
            except OSError as exc:
                log.warning("could not move %s to the library's trash: %s", rel, exc)
    gone: set[str] = set()
    for rel in files.trashed_images():
        target = files.in_trash(rel)
        for path in (target, sidecar_of(target)):
            if path.exists():
                try:
                    send2trash.send2trash(str(path))
                except Exception as exc:  # noqa: BLE001 - send2trash raises several kinds; the file simply stays
                    log.warning("the system trash refused %s; it stays in the library's trash: %s", path, exc)
        if not target.exists():
            gone.add(rel)
    forgotten = gone | {
        rel for rel in trashed_rows if not (library.root / rel).exists() and not files.in_trash(rel).exists()
    }
    chunk_size = 500
    ordered = sorted(forgotten)
    for start in range(0, len(ordered), chunk_size):
        chunk = ordered[start : start + chunk_size]
        index.write(f"DELETE FROM images WHERE trashed AND path IN ({_marks(len(chunk))})", chunk)
    files.remove_empty_trash_folders()
    return len(gone)
