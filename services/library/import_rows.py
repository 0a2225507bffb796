"""Rows of other tools' images (read by services/import_reading.py) written into the index, one by one or a batch
at a time. importing.py decides which files; import_reading.py reads them; this module writes them.

The batch write (index_new) turns the schema's FTS insert trigger off for the length of its transaction and puts
the batch's prompts into the full-text index in one INSERT ... SELECT: through the trigger a row costs ~30 µs (FTS5
flushes its pending terms at every statement), in bulk ~3 µs. The drop and the re-creation are inside the batch's
transaction, so a failure or a crash rolls both back with the rows; when the trigger says anything else than what
this module knows (a later schema step changed it) the batch goes row by row through it.
"""

from __future__ import annotations

import sqlite3

from services.import_reading import KEY, Row, with_favourite

_GENERATION_UPSERT = (
    "INSERT INTO generations(id, created_at, finished_at, prompt, model, params, status, text, attempts, source)"
    " VALUES (?,?,?,?,?,?,?,'',0,?) ON CONFLICT(id) DO UPDATE SET prompt=excluded.prompt, model=excluded.model,"
    " params=excluded.params, source=excluded.source"
)
_IMAGE_INSERT = (
    "INSERT INTO images(generation_id, idx, path, width, height, mime_type, sha256, size_bytes, mtime, created_at,"
    " favourite, folder_id) VALUES (?,0,?,?,?,?,?,?,?,?,?,?)"
)
# The schema's FTS insert trigger as this module knows it (schema step 1); see the module's docstring.
_FTS_TRIGGER = "generations_ai"
_FTS_TRIGGER_BODY = "BEGIN INSERT INTO generations_fts(rowid, prompt, text) VALUES (new.seq, new.prompt, new.text); END"


def index_row(conn: sqlite3.Connection, row: Row, favourite: bool = False) -> int:
    """Inserts (or, for a known path, updates) the image's generation and row; its image id."""
    generation, image = with_favourite(row) if favourite else row
    conn.execute(_GENERATION_UPSERT, generation)
    known = conn.execute("SELECT id FROM images WHERE path=?", (image[KEY],)).fetchone()
    if known:
        conn.execute(
            "UPDATE images SET width=?, height=?, mime_type=?, sha256=?, size_bytes=?, mtime=? WHERE id=?",
            (*image[2:8], known[0]),
        )
        return known[0]
    return conn.execute(_IMAGE_INSERT, image).lastrowid


def index_new(conn: sqlite3.Connection, rows: list[Row]) -> list[int]:
    """Indexes many files at once inside the caller's transaction: one executemany per table and, when the schema's
    FTS trigger is the one this module knows, the prompts put into the full-text index in one statement. A path
    already indexed (a nested added folder, a file put back) keeps its row; its generation is updated. The ids
    of the images rows made."""
    if not rows:
        return []
    trigger = _fts_trigger_sql(conn)
    # Row by row: outside a transaction (the trigger's drop must not be seen alone), when the trigger is not the
    # one known here, and for a few files (the bulk path's fixed cost, two schema changes, is not worth it).
    if trigger is None or not conn.in_transaction or len(rows) < 20:
        return [index_row(conn, row) for row in rows]
    before_seq, before_id = conn.execute(
        "SELECT (SELECT coalesce(max(seq), 0) FROM generations), (SELECT coalesce(max(id), 0) FROM images)"
    ).fetchone()
    conn.execute(f"DROP TRIGGER {_FTS_TRIGGER}")  # undone by the rollback if anything below fails
    # A conflict is an UPDATE: generations_au keeps the full-text index right for it.
    conn.executemany(_GENERATION_UPSERT, [generation for generation, _ in rows])
    conn.execute(
        "INSERT INTO generations_fts(rowid, prompt, text) SELECT seq, prompt, text FROM generations WHERE seq > ?",
        (before_seq,),
    )
    conn.execute(trigger)
    conn.executemany(_IMAGE_INSERT + " ON CONFLICT(path) DO NOTHING", [image for _, image in rows])
    return [r[0] for r in conn.execute("SELECT id FROM images WHERE id > ? ORDER BY id", (before_id,))]


def _fts_trigger_sql(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type='trigger' AND name=?", (_FTS_TRIGGER,)).fetchone()
    return row[0] if row and " ".join(row[0].split()).endswith(_FTS_TRIGGER_BODY) else None
