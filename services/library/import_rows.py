"""One foreign image file read (bytes, header, metadata, sha256) and written into the index, one by one or a batch
at a time. importing.py decides which files; this module reads and writes them.

The batch write (index_new) turns the schema's FTS insert trigger off for the length of its transaction and puts
the batch's prompts into the full-text index in one INSERT ... SELECT: through the trigger a row costs ~30 µs (FTS5
flushes its pending terms at every statement), in bulk ~3 µs. The drop and the re-creation are inside the batch's
transaction, so a failure or a crash rolls both back with the rows; when the trigger says anything else than what
this module knows (a later schema step changed it) the batch goes row by row through it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

from services import imaging, interop, metadata
from services.library.reading import UnreadableFile
from services.status import Status

MAX_FILE_BYTES = 256 * 1024 * 1024


class Found(NamedTuple):
    """One foreign image file, read (a tuple: made 100,000 times in an import, a dataclass costs 5 µs each)."""

    key: str  # its path in the index
    folder_id: str | None
    mime: str
    width: int
    height: int
    sha256: str
    size: int
    mtime: float
    info: interop.ImageInfo


def read_found(path: Path | str, key: str, folder_id: str | None, sidecar_of: Path | str | None = None) -> Found:
    """Reads one file (UnreadableFile with a sentence when it is not a whole image). `sidecar_of`: the image path
    whose Atelier sidecar to read when the file has no record inside (the path itself when not known)."""
    data, mtime = _read_bytes(path)
    try:
        mime, width, height = imaging.check_image(data)
    except imaging.ImageFormatError as exc:
        raise UnreadableFile(f"It is not a whole image ({exc}).") from exc
    info = metadata.read_info(data, os.path.basename(path), sidecar_of)
    # The whole file is read anyway (a PNG may carry its text after the image data), and its sha256 is its identity
    # for thumbnails, boards/tags/ratings and move detection: hashing it here costs ~1 µs for a small file.
    sha = hashlib.sha256(data).hexdigest()
    return Found(key, folder_id, mime, width, height, sha, len(data), mtime, info)


def _read_bytes(path: Path | str) -> tuple[bytes, float]:
    """The file's bytes and mtime: os.open/fstat/read, half the cost of open().read() for the small files of a
    big folder (the import's floor is reading them)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            stat = os.fstat(fd)
            if stat.st_size > MAX_FILE_BYTES:
                raise UnreadableFile(f"It is larger than {MAX_FILE_BYTES // 2**20} MB, too large for an image.")
            data = os.read(fd, stat.st_size + 1)
            if len(data) != stat.st_size:  # rare: a short read, or the file changed while being read
                parts, total = [data], len(data)
                while chunk := os.read(fd, 1 << 20):
                    parts.append(chunk)
                    total += len(chunk)
                    if total > MAX_FILE_BYTES:
                        raise UnreadableFile(f"It grew over {MAX_FILE_BYTES // 2**20} MB while being read.")
                data = b"".join(parts)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UnreadableFile(f"It cannot be read ({exc.strerror or exc}).") from exc
    return data, stat.st_mtime


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
        "file": os.path.basename(found.key),
    }
    if info.record and isinstance(info.record.get("generation_id"), str):
        params["atelier_generation_id"] = info.record["generation_id"]
    return params


_GENERATION_UPSERT = (
    "INSERT INTO generations(id, created_at, finished_at, prompt, model, params, status, text, attempts, source)"
    " VALUES (?,?,?,?,?,?,?,'',0,?) ON CONFLICT(id) DO UPDATE SET prompt=excluded.prompt, model=excluded.model,"
    " params=excluded.params, source=excluded.source"
)
_IMAGE_INSERT = (
    "INSERT INTO images(generation_id, idx, path, width, height, mime_type, sha256, size_bytes, mtime, created_at,"
    " favourite, folder_id) VALUES (?,0,?,?,?,?,?,?,?,?,?,?)"
)
_PARAMS_JSON = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per file (json.dumps with options)
# The schema's FTS insert trigger as this module knows it (schema step 1); see the module's docstring.
_FTS_TRIGGER = "generations_ai"
_FTS_TRIGGER_BODY = "BEGIN INSERT INTO generations_fts(rowid, prompt, text) VALUES (new.seq, new.prompt, new.text); END"


def _generation_values(found: Found) -> tuple:
    created = _created_at(found)
    info = found.info
    params = _PARAMS_JSON(_params(found))
    return (generation_id_of(found.key), created, created, info.prompt, info.model or "unknown", params,
            Status.IMPORTED, info.source)  # fmt: skip


def _image_values(found: Found, generation: tuple, favourite: bool = False) -> tuple:
    return (generation[0], found.key, found.width, found.height, found.mime, found.sha256, found.size,
            found.mtime, generation[1], int(favourite), found.folder_id)  # fmt: skip


def index_found(conn: sqlite3.Connection, found: Found, favourite: bool = False, known: bool = True) -> int:
    """Inserts (or, for a known path, updates) the image's generation and row; its image id. known=False: the
    caller knows the path is not indexed yet (saves a lookup per file)."""
    generation = _generation_values(found)
    conn.execute(_GENERATION_UPSERT, generation)
    row = conn.execute("SELECT id FROM images WHERE path=?", (found.key,)).fetchone() if known else None
    if row:
        conn.execute(
            "UPDATE images SET width=?, height=?, mime_type=?, sha256=?, size_bytes=?, mtime=? WHERE id=?",
            (found.width, found.height, found.mime, found.sha256, found.size, found.mtime, row[0]),
        )
        return row[0]
    return conn.execute(_IMAGE_INSERT, _image_values(found, generation, favourite)).lastrowid


def index_new(conn: sqlite3.Connection, founds: list[Found]) -> list[int]:
    """Indexes many files at once inside the caller's transaction: one executemany per table and, when the schema's
    FTS trigger is the one this module knows, the prompts put into the full-text index in one statement. A path
    already indexed (a nested added folder, a file put back) keeps its row; its generation is updated. The ids
    of the images rows made."""
    if not founds:
        return []
    trigger = _fts_trigger_sql(conn)
    # Row by row: outside a transaction (the trigger's drop must not be seen alone), when the trigger is not the
    # one known here, and for a few files (the bulk path's fixed cost, two schema changes, is not worth it).
    if trigger is None or not conn.in_transaction or len(founds) < 20:
        return [index_found(conn, f) for f in founds]
    before_seq, before_id = conn.execute(
        "SELECT (SELECT coalesce(max(seq), 0) FROM generations), (SELECT coalesce(max(id), 0) FROM images)"
    ).fetchone()
    generations = [_generation_values(f) for f in founds]
    conn.execute(f"DROP TRIGGER {_FTS_TRIGGER}")  # undone by the rollback if anything below fails
    conn.executemany(_GENERATION_UPSERT, generations)  # a conflict is an UPDATE: generations_au keeps the FTS right
    conn.execute(
        "INSERT INTO generations_fts(rowid, prompt, text) SELECT seq, prompt, text FROM generations WHERE seq > ?",
        (before_seq,),
    )
    conn.execute(trigger)
    conn.executemany(
        _IMAGE_INSERT + " ON CONFLICT(path) DO NOTHING",
        [_image_values(f, g) for f, g in zip(founds, generations, strict=True)],
    )
    return [r[0] for r in conn.execute("SELECT id FROM images WHERE id > ? ORDER BY id", (before_id,))]


def _fts_trigger_sql(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type='trigger' AND name=?", (_FTS_TRIGGER,)).fetchone()
    return row[0] if row and " ".join(row[0].split()).endswith(_FTS_TRIGGER_BODY) else None
