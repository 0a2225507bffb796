"""The index's schema, one numbered step per version, kept in PRAGMA user_version.

To change the schema, add one entry to MIGRATIONS under the next number: a list whose items are SQL statements or
functions taking the connection (for a step that moves data). SCHEMA_VERSION follows. Steps run in order, each in
its own transaction; an index from an older Atelier is copied aside before its first step. Branches own their
numbers: 3 is the writer's process identity; 4 is imported images (source, folder_id, mtime); later features take 5, ...
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from services.errors import LibraryError

log = logging.getLogger(__name__)

Step = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: dict[int, list[Step]] = {
    1: [
        """CREATE TABLE generations(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            finished_at REAL,
            prompt TEXT NOT NULL,
            model TEXT NOT NULL,
            endpoint TEXT,
            protocol TEXT,
            params TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            text TEXT NOT NULL DEFAULT '',
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            usage TEXT,
            pid INTEGER)""",
        "CREATE INDEX generations_created ON generations(created_at)",
        "CREATE INDEX generations_model ON generations(model, created_at)",
        """CREATE TABLE images(
            id INTEGER PRIMARY KEY,
            generation_id TEXT NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            path TEXT NOT NULL UNIQUE,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            mime_type TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            created_at REAL NOT NULL,
            favourite INTEGER NOT NULL DEFAULT 0,
            trashed INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX images_created ON images(created_at)",
        "CREATE INDEX images_generation ON images(generation_id)",
        """CREATE VIRTUAL TABLE generations_fts USING fts5(
            prompt, text, content='generations', content_rowid='seq', tokenize='unicode61 remove_diacritics 2')""",
        """CREATE TRIGGER generations_ai AFTER INSERT ON generations BEGIN
            INSERT INTO generations_fts(rowid, prompt, text) VALUES (new.seq, new.prompt, new.text); END""",
        """CREATE TRIGGER generations_ad AFTER DELETE ON generations BEGIN
            INSERT INTO generations_fts(generations_fts, rowid, prompt, text)
            VALUES ('delete', old.seq, old.prompt, old.text); END""",
        """CREATE TRIGGER generations_au AFTER UPDATE OF prompt, text ON generations BEGIN
            INSERT INTO generations_fts(generations_fts, rowid, prompt, text)
            VALUES ('delete', old.seq, old.prompt, old.text);
            INSERT INTO generations_fts(rowid, prompt, text) VALUES (new.seq, new.prompt, new.text); END""",
    ],
    # Partial indexes, so that finding unfinished jobs (at every start) and failed attempts (in every gallery
    # query) reads the few such rows instead of scanning 100,000 generations (18 ms to 0.02 ms), and favourites
    # likewise. Queries must repeat the index's condition word for word for SQLite to use it.
    2: [
        "CREATE INDEX generations_unfinished ON generations(created_at) WHERE status <> 'ok'",
        "CREATE INDEX images_favourites ON images(created_at) WHERE favourite",
    ],
    # The writer's process start time beside its pid: a pid the system gave to another process since is not the
    # writer (psutil's create_time, seconds since the epoch).
    3: [
        "ALTER TABLE generations ADD COLUMN pid_started REAL",
    ],
    # Images of other tools, indexed in added folders (see folders.py): the tool that made a generation (NULL for
    # Atelier's own), the added folder an image lives in (NULL inside the library, whose paths stay relative; an
    # added folder's are absolute, rewritten when the folder moves) and its mtime, so that a rescan compares path,
    # size and mtime without reading the file.
    4: [
        "ALTER TABLE generations ADD COLUMN source TEXT",
        "ALTER TABLE images ADD COLUMN folder_id TEXT",
        "ALTER TABLE images ADD COLUMN mtime REAL",
        "CREATE INDEX images_folder ON images(folder_id) WHERE folder_id IS NOT NULL",
        # Imported generations are not unfinished jobs: keep step 2's partial index to the few that are.
        "DROP INDEX generations_unfinished",
        "CREATE INDEX generations_unfinished ON generations(created_at) WHERE status NOT IN ('ok', 'imported')",
    ],
    # Boards, tags and ratings, mirrored from the library's journal (.atelier/organize.jsonl, see organize.py) and
    # keyed by sha256; organize_state.offset is how much of the journal is applied. image_hashes holds each image's
    # perceptual hash (similar.py), recomputable from its thumbnail.
    5: [
        "CREATE TABLE organize_state(key TEXT PRIMARY KEY, value)",
        "CREATE TABLE ratings(sha256 TEXT PRIMARY KEY, rating INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE TABLE tags(sha256 TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(sha256, tag)) WITHOUT ROWID",
        "CREATE INDEX tags_tag ON tags(tag, sha256)",
        "CREATE TABLE boards(name TEXT PRIMARY KEY, created_at REAL)",
        "CREATE TABLE board_images(board TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(board, sha256)) WITHOUT ROWID",
        "CREATE INDEX board_images_sha ON board_images(sha256)",
        "CREATE TABLE image_hashes(sha256 TEXT PRIMARY KEY, dhash INTEGER NOT NULL) WITHOUT ROWID",
        "CREATE INDEX images_sha256 ON images(sha256)",
    ],
    # Refine threads: a refine's parent generation, which of its images, and the thread's root generation (NULL for a
    # root). The partial indexes serve "the children of X" and "the whole tree of thread T" without a scan.
    6: [
        "ALTER TABLE generations ADD COLUMN parent_id TEXT",
        "ALTER TABLE generations ADD COLUMN parent_image_index INTEGER",
        "ALTER TABLE generations ADD COLUMN thread_id TEXT",
        "CREATE INDEX generations_parent ON generations(parent_id) WHERE parent_id IS NOT NULL",
        "CREATE INDEX generations_thread ON generations(thread_id, created_at) WHERE thread_id IS NOT NULL",
    ],
    # Ratings in star order: the gallery counts and reads one level of stars (or ★3+) without reading every rating
    # (a first screen of ★3+ or by stars at 100,000 images read and sorted all 83,000: 550-940 ms).
    7: [
        "CREATE INDEX ratings_rating ON ratings(rating, sha256)",
    ],
}

SCHEMA_VERSION = max(MIGRATIONS)

# The oldest schema the queries can read as it is: a library that cannot be migrated (a read-only folder, a full
# disk) opens for browsing if its index is at least this version. Raise it when a query needs a newer step.
READABLE_SINCE = 2


def version_of(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, db_path: Path) -> None:
    """Brings the index to SCHEMA_VERSION; refuses one written by a newer Atelier."""
    version = version_of(conn)
    if version > SCHEMA_VERSION:
        raise LibraryError(
            f"This library was written by a newer Atelier (schema {version}); update Atelier to open it."
        )
    if 0 < version < SCHEMA_VERSION:
        backup(conn, db_path, version)
    for step in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version_of(conn) >= step:  # another process migrated meanwhile
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[step]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={step}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def backup(conn: sqlite3.Connection, db_path: Path, version: int) -> Path:
    target_path = db_path.with_name(f"index.v{version}.{int(time.time())}.bak.sqlite3")
    target = sqlite3.connect(target_path)
    try:
        with target:
            conn.backup(target)
    finally:
        target.close()
    log.info("backed up the index before migrating from v%d to %s", version, target_path.name)
    return target_path
