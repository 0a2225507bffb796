"""Indexing other tools' images: folders added in place, files copied in, the rescan, and the rebuild's share.

Every image found becomes one generation with status IMPORTED and a `source` (interop.SOURCES: a1111, comfyui,
invokeai, fooocus, atelier, unknown), read through metadata.read_info; its prompt goes into the full-text index,
its settings into params. An image without metadata is still an image (source unknown, empty prompt). A file that
is not a whole image is listed as failed with a sentence, and the rest go on.

The work runs in the caller's thread (a worker, never the GUI thread), files read outside any transaction, rows
written in batches (BATCH_SIZE files, or what BATCH_SECONDS read) per transaction so the gallery sees images arrive;
`on_batch(image_ids)` is called after each batch, `progress(done, total)` at most PROGRESS_HZ times a second, and
`cancel` (a threading.Event) stops it between files (the batches committed stay; what was read ahead is dropped;
a later rescan finishes the folder).

Keys: an in-place image's path in the index is absolute, with its folder's id; a copied one lives under
`images/imported/<folder name>/` with a path relative to the library root, like Atelier's own images. A generation's
id is "import-" and a hash of that path, so the rebuild gives the same ids.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from services import metadata
from services.errors import UnreadableFile
from services.import_reading import KEY, MTIME, SHA256, SIZE, Row, read_row
from services.library import import_readers
from services.library.files import IMAGE_SUFFIXES, write_atomically
from services.library.folders import AddedFolder, walk_images
from services.library.import_readers import Readers, read_here, readers_for
from services.library.import_rows import index_new, index_row

if TYPE_CHECKING:
    from services.library import Library

log = logging.getLogger(__name__)

IMPORTED_PREFIX = "images/imported/"
BATCH_SIZE = 2000  # files per transaction: commits and FTS flushes are per batch
BATCH_SECONDS = 1.0  # a batch is committed after this long even when smaller, so the gallery sees images arrive
PROGRESS_HZ = 10  # progress(done, total) calls per second at most
Progress = Callable[[int, int], None]
Batch = Callable[[list[int]], None]


def new_report() -> dict:
    return {"added": 0, "skipped": 0, "failed": [], "folders": [], "moved": 0, "changed": 0, "removed": 0,
            "cancelled": False}  # fmt: skip


# --- adding ---------------------------------------------------------------------------------------------------------


def add_paths(
    library: Library,
    paths: Iterable[Path],
    *,
    copy: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_batch: Batch | None = None,
    batch_size: int = BATCH_SIZE,
    readers: Readers | None = None,
) -> dict:
    """Adds folders in place (or copies them with copy=True) and copies single files in; the report:
    {added, skipped, failed: [{path, reason}], folders, moved, changed, removed, cancelled}. `readers`: reader
    processes to read the files with (made for a big folder when not given)."""
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
            sync_folder(library, folder, report, progress, cancel, on_batch, batch_size, readers)
        else:
            _copy_in(library, path, report, progress, cancel, on_batch, batch_size, readers)
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
    batch_size: int = BATCH_SIZE,
    readers: Readers | None = None,
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
    known = {
        path: (image_id, size, mtime, sha)
        for image_id, path, size, mtime, sha in library.index.rows(
            "SELECT id, path, size_bytes, mtime, sha256 FROM images WHERE folder_id=?", (folder.id,)
        )
    }
    sidecars: set[str] = set()
    # A folder seen for the first time is not stat'ed file by file: the readers learn size and mtime anyway.
    on_disk = {p: (size, mtime) for p, size, mtime in walk_images(root, (library.root,), sidecars, stat=bool(known))}
    todo = [p for p, stat in on_disk.items() if p not in known or known[p][1:3] != stat]
    report["skipped"] += len(on_disk) - len(todo)
    gone = {p: row for p, row in known.items() if p not in on_disk}
    gone_by_sha = {row[3]: p for p, row in gone.items()}

    def write(conn: sqlite3.Connection, rows: list[Row]) -> list[int]:
        ids, new = [], []
        for row in rows:
            image = row[1]
            if image[KEY] in known:
                report["changed"] += 1
                ids.append(index_row(conn, row))
            elif image[SHA256] in gone_by_sha:
                old = gone.pop(gone_by_sha.pop(image[SHA256]))
                conn.execute("UPDATE images SET path=?, mtime=?, size_bytes=? WHERE id=?",
                             (image[KEY], image[MTIME], image[SIZE], old[0]))  # fmt: skip
                report["moved"] += 1
                ids.append(old[0])
            else:
                new.append(row)
        report["added"] += len(new)
        return ids + index_new(conn, new)

    items = [(p, p, folder.id, p if p in sidecars else None) for p in todo]
    finished = _in_batches(library, items, write, report, progress, cancel, on_batch, batch_size, readers)
    if finished and gone:
        _forget(library, [row[0] for row in gone.values()])
        report["removed"] += len(gone)


def _in_batches(library, items, write, report, progress, cancel, on_batch, batch_size, readers=None) -> bool:
    """Reads (path, key, folder_id, sidecar) items and hands them to `write(conn, rows) -> image ids` in one
    transaction per batch: `batch_size` files, or fewer when BATCH_SECONDS passed (slow files still show up soon).
    `progress` is called at most PROGRESS_HZ times a second. False when cancelled.

    A helper thread gathers the rows while this one writes the previous batch (the writes stay in this thread, on
    its own connection). The rows are read by the reader processes given, or by ones started for a big import, or
    else by the helper thread itself (see import_readers.readers_for)."""
    if not items:
        if progress:
            progress(0, 0)
        return True
    own_readers = readers_for(len(items)) if readers is None else None
    readers = readers or own_readers
    batches: queue.Queue = queue.Queue(maxsize=2)  # at most two batches read ahead: memory stays bounded
    stop = threading.Event()  # this thread failed: the reader stops too

    def read_all() -> None:
        try:
            chunks = readers.read(items) if readers else read_here(items)
            _gather_batches(chunks, len(items), batches, report, progress, cancel, stop, batch_size)
        except BaseException as exc:  # noqa: BLE001 - handed over to the writing thread, which raises it
            _put(batches, exc, stop)
        _put(batches, None, stop)

    reader = threading.Thread(target=read_all, name="atelier-import-read", daemon=True)
    reader.start()
    try:
        with library.index.bulk_writes() if len(items) >= import_readers.READERS_FROM else contextlib.nullcontext():
            while (batch := batches.get()) is not None:
                if isinstance(batch, BaseException):
                    raise batch
                if cancel is not None and cancel.is_set():
                    report["_unread"] = 1  # read ahead but not written: the next rescan adds them
                    break
                with library.index.transaction() as conn:
                    ids = write(conn, batch)
                if on_batch:
                    on_batch(ids)
    finally:
        stop.set()
        reader.join()
        if own_readers is not None:
            own_readers.close()
    unread = report.pop("_unread", 0)
    if cancel is not None and cancel.is_set() and unread:
        report["cancelled"] = True
        return False
    return True


def _put(batches: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            batches.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _gather_batches(chunks, total, batches, report, progress, cancel, stop, batch_size) -> None:
    """Cuts the rows of `chunks` ((rows, failed, count) in the items' order) into batches for the writer."""
    done = 0
    if progress:
        progress(0, total)
    rows: list[Row] = []
    clock = time.monotonic
    batch_started = next_progress = clock()
    try:
        for chunk_rows, failed, count in chunks:
            if stop.is_set() or (cancel is not None and cancel.is_set()):
                break  # this chunk was read ahead: dropped, like the rest
            report["failed"].extend({"path": path, "reason": reason} for path, reason in failed)
            rows.extend(chunk_rows)
            done += count
            now = clock()
            while len(rows) >= batch_size:
                _put(batches, rows[:batch_size], stop)
                rows, batch_started = rows[batch_size:], now
            if rows and now - batch_started >= BATCH_SECONDS:
                _put(batches, rows, stop)
                rows, batch_started = [], now
            if progress and now >= next_progress:
                progress(done, total)
                next_progress = now + 1 / PROGRESS_HZ
    finally:
        chunks.close()
    if rows:
        _put(batches, rows, stop)
    if progress:
        progress(done, total)
    report["_unread"] = report.get("_unread", 0) + total - done


def rescan_all(library: Library, progress=None, cancel=None, on_batch=None, readers=None) -> dict:
    report = new_report()
    if library.read_only_reason:
        return report
    for folder in library.folders.all():
        sync_folder(library, folder, report, progress, cancel, on_batch, readers=readers)
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


def _copy_in(library, source: Path, report, progress, cancel, on_batch, batch_size, readers) -> None:
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

    def write(conn: sqlite3.Connection, rows: list[Row]) -> list[int]:
        report["added"] += len(rows)
        return index_new(conn, rows)

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
    _in_batches(library, copied, write, report, progress, cancel, on_batch, batch_size, readers)


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
    the library (an added folder's deleted image stays on disk, hidden). Read like an import (reader processes for
    a big folder) and written in bulk."""
    items = []
    for folder in library.folders.all():
        if not Path(folder.path).is_dir():
            report["skipped"].append({"path": folder.path, "reason": "The added folder is not there."})
            continue
        sidecars: set[str] = set()
        walked = walk_images(Path(folder.path), (library.root,), sidecars, stat=False)
        items += [(path, path, folder.id, path if path in sidecars else None) for path, _, _ in walked]
    readers = readers_for(len(items))
    try:
        for rows, failed, _ in readers.read(items) if readers else read_here(items):
            report["skipped"] += [{"path": path, "reason": reason} for path, reason in failed]
            index_new(conn, rows)
            report["images"] += len(rows)
            report["imported"] = report.get("imported", 0) + len(rows)
    finally:
        if readers:
            readers.close()
    marks = [(key,) for key in favourites]
    conn.executemany("UPDATE images SET favourite=1 WHERE path=? AND folder_id IS NOT NULL", marks)
    conn.executemany("UPDATE images SET trashed=1 WHERE path=? AND folder_id IS NOT NULL", [(p,) for p in hidden])


def rebuild_file(
    conn: sqlite3.Connection, path: Path, key: str, folder_id: str | None, favourites: set[str], report: dict
) -> None:
    try:
        row = read_row(path, key, folder_id, path)
    except UnreadableFile as exc:
        report["skipped"].append({"path": str(path), "reason": str(exc)})
        return
    index_row(conn, row, favourite=key in favourites)
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
