"""A new index from the image files' own metadata, swapped in atomically.

Each file is read on its own: one that cannot be read, is not a whole image or carries damaged metadata is skipped,
logged once and listed in the report with the reason; the others are indexed. The old index, if readable, lends
favourites and the attempts without an image (blocked, failed), which no file records. Deleted images wait in the
library's trash folder, which is not scanned, so a rebuild does not bring them back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from services.library import importing, problems, schema, threads
from services.library.files import IMAGE_SUFFIXES
from services.library.index import Index
from services.library.reading import ImageFile, Story, UnreadableFile, read_image_file
from services.status import Status

if TYPE_CHECKING:
    from services.library import Library

log = logging.getLogger(__name__)


def rebuild(library: Library) -> dict:
    """{images, generations, without_metadata, unreadable, skipped: [{path, reason}], damaged: [{path, reason}]}."""
    try:
        return _rebuild(library)
    except OSError as exc:
        raise problems.disk_problem(library.root, exc) from exc
    except sqlite3.Error as exc:
        raise problems.index_problem(library.root, library.db_path, exc) from exc


def _rebuild(library: Library) -> dict:
    files = library.files
    files.meta_dir.mkdir(parents=True, exist_ok=True)
    lent = _read_old_index(library.db_path)
    for rel in lent["trashed"]:  # deleted before a trash folder existed, or a delete cut short: finish it first
        if (files.root / rel).exists() and not files.in_trash(rel).exists():
            files.move_to_trash(rel)
    fresh = library.db_path.with_name("index.rebuild.sqlite3")
    _remove_database(fresh)
    builder = Index(library.root, fresh)
    report: dict = {"images": 0, "generations": 0, "without_metadata": 0, "unreadable": 0, "skipped": [], "damaged": []}
    try:
        with builder.session() as conn:
            schema.migrate(conn, fresh)
            conn.execute("BEGIN IMMEDIATE")
            for path in sorted(files.images_dir.rglob("*")):
                if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith(".") or not path.is_file():
                    continue
                rel = files.relative(path)
                if rel.startswith(importing.IMPORTED_PREFIX):  # another tool's image, copied in
                    importing.rebuild_file(conn, path, rel, None, lent["favourites"], report)
                    continue
                try:
                    found = read_image_file(path)
                    created = found.story.created_at if found.story else None
                    created = created if created is not None else path.stat().st_mtime
                except Exception as exc:  # noqa: BLE001 - any one file's trouble is that file's, not the rebuild's
                    reason = str(exc) if isinstance(exc, UnreadableFile) else _reason(exc)
                    log.warning("rebuild skipped %s: %s", path, reason)
                    report["skipped"].append({"path": str(path), "reason": reason})
                    continue
                report["without_metadata"] += found.story is None
                if found.problems:
                    report["damaged"].append({"path": str(path), "reason": _sentence(found.problems)})
                index_file(conn, found, rel, created, favourite=rel in lent["favourites"])
                report["images"] += 1
            importing.rebuild_folders(conn, library, lent["favourites"], set(lent["trashed"]), report)
            _carry_attempts(conn, lent["attempts"])
            conn.executemany("INSERT OR IGNORE INTO image_hashes(sha256, dhash) VALUES (?, ?)", lent["hashes"])
            conn.execute("COMMIT")
            report["generations"] = conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        builder.close()
    report["unreadable"] = len(report["skipped"])
    with library.index.exclusive():
        if library.db_path.exists():
            aside = library.db_path.with_name(f"index.replaced.{int(time.time())}.sqlite3")
            try:
                shutil.move(str(library.db_path), str(aside))
            except OSError:
                pass
        for suffix in ("-wal", "-shm"):
            Path(str(library.db_path) + suffix).unlink(missing_ok=True)
        os.replace(fresh, library.db_path)
        _remove_database(fresh)
    library.open()
    return report


def index_file(conn: sqlite3.Connection, found: ImageFile, rel: str, created: float, favourite: bool = False) -> int:
    """Indexes one image file (and its generation, from the file's story, if the index lacks it); its image id."""
    story = found.story or Story(
        generation_id="file-" + hashlib.sha1(rel.encode()).hexdigest()[:24],
        index=0,
        created_at=created,
        model="unknown",
        endpoint=None,
        request={"prompt": Path(rel).stem.replace("-", " ").replace("_", " "), "model": "unknown"},
        text="",
    )
    request = story.request
    lineage = request.get("lineage") if isinstance(request.get("lineage"), dict) else {}
    conn.execute(
        "INSERT OR IGNORE INTO generations(id, created_at, finished_at, prompt, model, endpoint, params,"
        " status, text, attempts, protocol, parent_id, parent_image_index, thread_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            story.generation_id,
            created,
            created,
            str(request.get("prompt", "")),
            story.model,
            story.endpoint,
            json.dumps(request, ensure_ascii=False),
            Status.OK,
            story.text,
            1,
            request.get("protocol") if isinstance(request.get("protocol"), str) else None,
            *threads.lineage_values(lineage),
        ),
    )
    cursor = conn.execute(
        "INSERT OR IGNORE INTO images(generation_id, idx, path, width, height, mime_type, sha256, size_bytes,"
        " created_at, favourite) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (story.generation_id, *found.image_values(rel, created), int(favourite)),
    )
    if cursor.rowcount:
        return cursor.lastrowid
    return conn.execute("SELECT id FROM images WHERE path=?", (rel,)).fetchone()[0]


def _read_old_index(db_path: Path) -> dict:
    """What only the index knows: favourites, deletions waiting for the purge, and attempts without an image."""
    lent: dict = {"favourites": set(), "trashed": [], "attempts": ([], []), "hashes": []}
    if not db_path.exists():
        return lent
    try:
        old = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            lent["favourites"] = {r[0] for r in old.execute("SELECT path FROM images WHERE favourite")}
            lent["trashed"] = [r[0] for r in old.execute("SELECT path FROM images WHERE trashed")]
            columns = [r[1] for r in old.execute("PRAGMA table_info(generations)") if r[1] != "seq"]
            rows = old.execute(
                f"SELECT {', '.join(columns)} FROM generations g"
                " WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = g.id)"
            ).fetchall()
            lent["attempts"] = (columns, rows)
            if old.execute("SELECT 1 FROM sqlite_master WHERE name='image_hashes'").fetchone():
                lent["hashes"] = old.execute("SELECT sha256, dhash FROM image_hashes").fetchall()  # keyed by content
        finally:
            old.close()
    except sqlite3.Error as exc:
        log.warning("the old index lends nothing to the rebuild: %s", exc)
    return lent


def _carry_attempts(conn: sqlite3.Connection, attempts: tuple[list[str], list[tuple]]) -> None:
    """The old index's attempts without an image, every column both schemas have (the writer's pid included, so a
    job another process is running stays running)."""
    old_columns, rows = attempts
    if not rows:
        return
    new_columns = {r[1] for r in conn.execute("PRAGMA table_info(generations)")}
    keep = [i for i, name in enumerate(old_columns) if name in new_columns]
    names = ", ".join(old_columns[i] for i in keep)
    conn.executemany(
        f"INSERT OR IGNORE INTO generations({names}) VALUES ({','.join('?' * len(keep))})",
        ([row[i] for i in keep] for row in rows),
    )


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _sentence(problems: tuple[str, ...]) -> str:
    text = "; ".join(dict.fromkeys(problems))
    return f"Indexed without its metadata, which is damaged: {text}."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"It cannot be read ({exc.strerror or exc})."
    return f"It could not be read ({type(exc).__name__}: {exc})."
