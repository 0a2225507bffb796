"""Indexing other tools' images: folders added in place, files copied in, the rescan, and the rebuild's share.

Every image found becomes one generation with status IMPORTED and a `source` (interop.SOURCES: a1111, comfyui,
invokeai, fooocus, atelier, unknown), read through metadata.read_info; its prompt goes into the full-text index,
its settings into params. An image without metadata is still an image (source unknown, empty prompt). A file that
is not a whole image is listed as failed with a sentence, and the rest go on.

The work runs in the caller's thread (a worker, never the GUI thread), files read outside any transaction, rows
written in batches of `batch_size` per transaction so the gallery sees images arrive; `progress(done, total)` and
`on_batch(image_ids)` are called after each batch, and `cancel` (a threading.Event) stops it between files (what
was committed stays; a later rescan finishes the folder).

Keys: an in-place image's path in the index is absolute, with its folder's id; a copied one lives under
`images/imported/<folder name>/` with a path relative to the library root, like Atelier's own images. A generation's
id is "import-" and a hash of that path, so the rebuild gives the same ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services import interop, metadata
from services.library.files import IMAGE_SUFFIXES, write_atomically
from services.library.folders import AddedFolder, walk_images
from services.library.reading import UnreadableFile, read_whole_image
from services.status import Status

if TYPE_CHECKING:
    from services.library import Library

log = logging.getLogger(__name__)

IMPORTED_PREFIX = "images/imported/"
MAX_FILE_BYTES = 256 * 1024 * 1024
Progress = Callable[[int, int], None]
Batch = Callable[[list[int]], None]


@dataclass(frozen=True)
class Found:
    """One foreign image file, read."""

    key: str  # its path in the index
    folder_id: str | None
    mime: str
    width: int
    height: int
    sha256: str
    size: int
    mtime: float
    info: interop.ImageInfo


def new_report() -> dict:
    return {"added": 0, "skipped": 0, "failed": [], "folders": [], "moved": 0, "changed": 0, "removed": 0,
            "cancelled": False}  # fmt: skip


def read_found(path: Path | str, key: str, folder_id: str | None, sidecar_of: Path | str | None = None) -> Found:
    """Reads one file (UnreadableFile with a sentence when it is not a whole image). `sidecar_of`: the image path
    whose Atelier sidecar to read when the file has no record inside (the path itself when not known)."""
    data, mime, width, height, mtime = read_whole_image(path, MAX_FILE_BYTES)
    info = metadata.read_info(data, os.path.basename(path), sidecar_of)
    sha = hashlib.sha256(data).hexdigest()
    return Found(key, folder_id, mime, width, height, sha, len(data), mtime, info)


def generation_id_of(key: str) -> str:
    return "import-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _created_at(found: Found) -> float:
    record = found.info.record or {}
    created = record.get("created_ts")
    if isinstance(created, int | float) and not isinstance(created, bool) and math.isfinite(created) and created > 0:
        return float(created)
    return found.mtime


def _params(found: Found) -> dict:
    info = found.info
    params = {
        "source": info.source,
        "prompt": info.prompt,
        "negative_prompt": info.negative_prompt,
        "model": info.model,
        "seed": info.seed,
        "width": found.width,
        "height": found.height,
        "steps": info.steps,
        "sampler": info.sampler,
        "cfg": info.cfg,
        "parameters": info.parameters,
        "file": Path(found.key).name,
    }
    if info.record and isinstance(info.record.get("generation_id"), str):
        params["atelier_generation_id"] = info.record["generation_id"]
    return params


def index_found(conn: sqlite3.Connection, found: Found, favourite: bool = False, known: bool = True) -> int:
    """Inserts (or, for a known path, updates) the image's generation and row; its image id. known=False: the
    caller knows the path is not indexed yet (saves a lookup per file)."""
    gid = generation_id_of(found.key)
    created = _created_at(found)
    info = found.info
    params = json.dumps(_params(found), ensure_ascii=False)
    model = info.model or "unknown"
    conn.execute(
        "INSERT INTO generations(id, created_at, finished_at, prompt, model, params, status, text, attempts, source)"
        " VALUES (?,?,?,?,?,?,?,'',0,?) ON CONFLICT(id) DO UPDATE SET prompt=excluded.prompt, model=excluded.model,"
        " params=excluded.params, source=excluded.source",
        (gid, created, created, info.prompt, model, params, Status.IMPORTED, info.source),
    )
    values = (found.width, found.height, found.mime, found.sha256, found.size, found.mtime)
    row = conn.execute("SELECT id FROM images WHERE path=?", (found.key,)).fetchone() if known else None
    if row:
        conn.execute(
            "UPDATE images SET width=?, height=?, mime_type=?, sha256=?, size_bytes=?, mtime=? WHERE id=?",
            (*values, row[0]),
        )
        return row[0]
    cursor = conn.execute(
        "INSERT INTO images(generation_id, idx, path, width, height, mime_type, sha256, size_bytes, mtime,"
        " created_at, favourite, folder_id) VALUES (?,0,?,?,?,?,?,?,?,?,?,?)",
        (gid, found.key, *values, created, int(favourite), found.folder_id),
    )
    return cursor.lastrowid


# --- adding ---------------------------------------------------------------------------------------------------------


def add_paths(
    library: Library,
    paths: Iterable[Path],
    *,
    copy: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_batch: Batch | None = None,
    batch_size: int = 500,
) -> dict:
    """Adds folders in place (or copies them with copy=True) and copies single files in; the report:
    {added, skipped, failed: [{path, reason}], folders, moved, changed, removed, cancelled}."""
    report = new_report()
    cancel = cancel or threading.Event()
    for path in paths:
        path = Path(path).expanduser().resolve()
        if cancel.is_set():
            report["cancelled"] = True
            break
        if not path.exists():
            report["failed"].append({"path": str(path), "reason": "It does not exist."})
        elif path.is_dir() and not copy:
            if _inside(path, library.root):
                report["failed"].append({"path": str(path), "reason": "It is already the library's own folder."})
                continue
            folder = library.folders.add(path)
            report["folders"].append(folder.as_json())
            sync_folder(library, folder, report, progress, cancel, on_batch, batch_size)
        else:
            _copy_in(library, path, report, progress, cancel, on_batch, batch_size)
    return report


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def sync_folder(
    library: Library,
    folder: AddedFolder,
    report: dict,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_batch: Batch | None = None,
    batch_size: int = 500,
) -> None:
    """Brings the index of one added folder up to date: new files read and indexed, changed ones (size or mtime)
    read again, moved ones (same content at a new path) keep their row, vanished ones forgotten. A folder that is
    not there (an unplugged disk) is left as it is indexed."""
    root = Path(folder.path)
    if not root.is_dir():
        report["failed"].append(
            {"path": folder.path, "reason": "The folder is not there; its images stay listed until it is back."}
        )
        return
    sidecars: set[str] = set()
    on_disk = {p: (size, mtime) for p, size, mtime in walk_images(root, (library.root,), sidecars)}
    known = {
        path: (image_id, size, mtime, sha)
        for image_id, path, size, mtime, sha in library.index.rows(
            "SELECT id, path, size_bytes, mtime, sha256 FROM images WHERE folder_id=?", (folder.id,)
        )
    }
    todo = [p for p, stat in on_disk.items() if p not in known or known[p][1:3] != stat]
    report["skipped"] += len(on_disk) - len(todo)
    gone = {p: row for p, row in known.items() if p not in on_disk}
    gone_by_sha = {row[3]: p for p, row in gone.items()}

    def write(conn: sqlite3.Connection, found: Found) -> int:
        if found.key in known:
            report["changed"] += 1
        elif found.sha256 in gone_by_sha:
            old = gone.pop(gone_by_sha.pop(found.sha256))
            conn.execute("UPDATE images SET path=?, mtime=?, size_bytes=? WHERE id=?",
                         (found.key, found.mtime, found.size, old[0]))  # fmt: skip
            report["moved"] += 1
            return old[0]
        else:
            report["added"] += 1
            return index_found(conn, found, known=False)
        return index_found(conn, found)

    items = [(p, p, folder.id, p if p in sidecars else None) for p in todo]
    finished = _in_batches(library, items, write, report, progress, cancel, on_batch, batch_size)
    if finished and gone:
        _forget(library, [row[0] for row in gone.values()])
        report["removed"] += len(gone)


def _in_batches(library, items, write, report, progress, cancel, on_batch, batch_size) -> bool:
    """Reads and writes (path, key, folder_id, sidecar) items batch by batch; False when cancelled."""
    total, done = len(items), 0
    if progress:
        progress(0, total)
    for start in range(0, total, batch_size):
        found = []
        for path, key, folder_id, sidecar in items[start : start + batch_size]:
            if cancel is not None and cancel.is_set():
                break
            try:
                found.append(read_found(path, key, folder_id, sidecar))
            except UnreadableFile as exc:
                report["failed"].append({"path": str(path), "reason": str(exc)})
            done += 1
        if found:
            with library.index.transaction() as conn:
                ids = [write(conn, f) for f in found]
            if on_batch:
                on_batch(ids)
        if progress:
            progress(done, total)
        if cancel is not None and cancel.is_set():
            report["cancelled"] = True
            return False
    return True


def rescan_all(library: Library, progress=None, cancel=None, on_batch=None) -> dict:
    report = new_report()
    if library.read_only_reason:
        return report
    for folder in library.folders.all():
        sync_folder(library, folder, report, progress, cancel, on_batch)
        report["folders"].append(folder.as_json())
    return report


def remove_folder(library: Library, folder_id: str) -> None:
    _forget(library, [r[0] for r in library.index.rows("SELECT id FROM images WHERE folder_id=?", (folder_id,))])
    library.folders.remove(folder_id)


def _forget(library: Library, image_ids: list[int]) -> None:
    for start in range(0, len(image_ids), 500):
        chunk = image_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        with library.index.transaction() as conn:
            gids = [r[0] for r in conn.execute(f"SELECT generation_id FROM images WHERE id IN ({marks})", chunk)]
            conn.execute(f"DELETE FROM images WHERE id IN ({marks})", chunk)
            conn.executemany(
                "DELETE FROM generations WHERE id=? AND status='imported'"
                " AND NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = generations.id)",
                [(g,) for g in gids],
            )


def _copy_in(library, source: Path, report, progress, cancel, on_batch, batch_size) -> None:
    """Copies a file, or a folder's images (keeping their sub-folders), under images/imported/ and indexes them."""
    if source.is_dir():
        base = library.images_dir / "imported" / (source.name or "folder")
        pairs = [(Path(p), base / Path(p).relative_to(source)) for p, _, _ in walk_images(source, skip=(library.root,))]
    else:
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            report["failed"].append({"path": str(source), "reason": "It is not a PNG, JPEG, WebP or GIF file."})
            return
        pairs = [(source, library.images_dir / "imported" / source.name)]
    items = []
    for src, target in pairs:
        if target.exists() and target.stat().st_size == src.stat().st_size:
            report["skipped"] += 1
            continue
        target = _free_name(target)
        items.append((src, target))

    def write(conn: sqlite3.Connection, found: Found) -> int:
        report["added"] += 1
        return index_found(conn, found)

    copied = []
    for src, target in items:  # copying first, so that every indexed path exists
        if cancel is not None and cancel.is_set():
            report["cancelled"] = True
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, src.read_bytes())
            shutil.copystat(src, target)
            sidecar = metadata.sidecar_path(src)
            if sidecar.exists():
                shutil.copyfile(sidecar, metadata.sidecar_path(target))
        except OSError as exc:
            report["failed"].append({"path": str(src), "reason": f"It could not be copied ({exc.strerror or exc})."})
            continue
        copied.append((target, library.files.relative(target), None, target))
    _in_batches(library, copied, write, report, progress, cancel, on_batch, batch_size)


def _free_name(target: Path) -> Path:
    candidate, n = target, 2
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        n += 1
    return candidate


# --- the rebuild's share ----------------------------------------------------------------------------------------------


def rebuild_folders(
    conn: sqlite3.Connection, library: Library, favourites: set[str], hidden: set[str], report: dict
) -> None:
    """Indexes every added folder into the rebuild's index (inside its transaction); `hidden`: paths deleted from
    the library (an added folder's deleted image stays on disk, hidden)."""
    for folder in library.folders.all():
        if not Path(folder.path).is_dir():
            report["skipped"].append({"path": folder.path, "reason": "The added folder is not there."})
            continue
        for path, _, _ in walk_images(Path(folder.path), skip=(library.root,)):
            rebuild_file(conn, Path(path), path, folder.id, favourites, report)
            if path in hidden:
                conn.execute("UPDATE images SET trashed=1 WHERE path=?", (path,))


def rebuild_file(
    conn: sqlite3.Connection, path: Path, key: str, folder_id: str | None, favourites: set[str], report: dict
) -> None:
    try:
        found = read_found(path, key, folder_id, path)
    except UnreadableFile as exc:
        report["skipped"].append({"path": str(path), "reason": str(exc)})
        return
    index_found(conn, found, favourite=key in favourites)
    report["images"] += 1
    report["imported"] = report.get("imported", 0) + 1


def relocate(library: Library, folder_id: str, new_path: Path) -> AddedFolder:
    """The folder moved (another computer, another mount point): its entry and its images' paths follow."""
    old = next((f for f in library.folders.all() if f.id == folder_id), None)
    if old is None:
        raise KeyError(folder_id)
    moved = library.folders.relocate(folder_id, new_path)
    old_prefix, new_prefix = old.path.rstrip(os.sep) + os.sep, moved.path.rstrip(os.sep) + os.sep
    library.index.write(
        "UPDATE images SET path = ? || substr(path, ?) WHERE folder_id=? AND substr(path, 1, ?) = ?",
        (new_prefix, len(old_prefix) + 1, folder_id, len(old_prefix), old_prefix),
    )
    return moved
