"""Boards, tags and ratings: written with the library, mirrored by the index.

The truth is an append-only journal in the library folder, `.atelier/organize.jsonl`, one JSON object per line,
keyed by the image's sha256 (so it follows an image through a rebuild, a copy of the folder to another computer, an
import in place, and a rename):

    {"v": 1, "at": 1763891234.5, "op": "board_add", "board": "Forest", "images": ["<sha256>", ...]}
    {"v": 1, "at": ..., "op": "board_remove", "board": "Forest", "images": [...]}
    {"v": 1, "at": ..., "op": "tag_add" | "tag_remove", "tags": ["fox", "night"], "images": [...]}
    {"v": 1, "at": ..., "op": "rate", "rating": 0..5 | "rejected", "images": [...]}   (0 clears)
    {"v": 1, "at": ..., "op": "board_rename", "board": "Forest", "to": "Woods", "images": []}
    {"v": 1, "at": ..., "op": "board_delete", "board": "Forest", "images": []}     (the images stay in the library)

A board_add with no images makes an empty board (the window's "New board"). An older Atelier skips the operations it
does not know, so a journal written here stays readable there.

Each line is written by one O_APPEND write and fsync'd, so two processes can append at once and a crash loses at
most the line being written (a torn last line is skipped, and the next writer starts a new line). The index mirrors
the journal in the tables of schema step 5 and remembers how many bytes it has applied (organize_state.offset):
sync() applies what is new, so a fresh index (a rebuild, or a copy whose index was lost) replays the whole journal.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

from services.errors import InputError

log = logging.getLogger(__name__)

JOURNAL_NAME = "organize.jsonl"
REJECTED = -1  # the stored rating of a rejected image; 1..5 are stars, no row is "unrated"
MAX_NAME = 200
# The gallery's order by stars (rejected last, shown only when asked), as the first ORDER BY terms.
RATING_ORDER = "COALESCE((SELECT r.rating FROM ratings r WHERE r.sha256 = i.sha256), 0) DESC, "


def journal_path(meta_dir: Path) -> Path:
    return meta_dir / JOURNAL_NAME


# --- writing --------------------------------------------------------------------------------------------------


def clean_board(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise InputError("A board needs a name.")
    if len(name) > MAX_NAME:
        raise InputError(f"A board's name can have at most {MAX_NAME} characters.")
    return name


def clean_tags(tags) -> list[str]:
    cleaned = []
    for tag in tags:
        tag = " ".join(str(tag).split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_NAME:
            raise InputError(f"A tag can have at most {MAX_NAME} characters.")
        if tag not in cleaned:
            cleaned.append(tag)
    if not cleaned:
        raise InputError("Give at least one tag (a word).")
    return cleaned


def parse_rating(value) -> int:
    """0..5 or 'rejected' (also 'reject', 'x') as stored: 0 clears, -1 rejected."""
    text = str(value).strip().lower()
    if text in ("reject", "rejected", "x"):
        return REJECTED
    if text in {"0", "1", "2", "3", "4", "5"}:
        return int(text)
    raise InputError(f"A rating is 0 to 5 stars or 'reject', not {value!r}.")


def rating_json(stored: int | None):
    return "rejected" if stored == REJECTED else (stored or 0)


def operation(op: str, images: list[str], **fields) -> dict:
    return {"v": 1, "at": time.time(), "op": op, **fields, "images": sorted(set(images))}


def append(path: Path, entry: dict) -> None:
    """One line, one write, on disk before returning."""
    line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and _last_byte(path, size) != b"\n":
            line = "\n" + line  # a writer died mid-line: its fragment stays a line of its own, skipped on reading
        data = line.encode("utf-8")
        if os.write(fd, data) != len(data):
            raise OSError(28, "short write to the organize journal")
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


# --- mirroring ------------------------------------------------------------------------------------------------


def sync(conn: sqlite3.Connection, path: Path) -> int:
    """Applies the journal's lines the index has not seen yet; how many. Call in the index's session."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    row = conn.execute("SELECT value FROM organize_state WHERE key='offset'").fetchone()
    if row is not None and row[0] == size:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM organize_state WHERE key='offset'").fetchone()
        offset = int(row[0]) if row else 0
        if offset > size:  # a different or shortened journal: the mirror starts again from its first line
            for table in ("ratings", "tags", "board_images", "boards"):
                conn.execute(f"DELETE FROM {table}")
            offset = 0
        applied = 0
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(size - offset)
            complete = data.rfind(b"\n") + 1  # a line still being written waits for the next sync
            for raw in data[:complete].splitlines():
                applied += _apply_line(conn, raw)
            offset += complete
        conn.execute("INSERT OR REPLACE INTO organize_state(key, value) VALUES ('offset', ?)", (offset,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def _apply_line(conn: sqlite3.Connection, raw: bytes) -> int:
    if not raw.strip():
        return 0
    try:
        entry = json.loads(raw)
        op = entry["op"]
        images = [s for s in entry["images"] if isinstance(s, str)]
        at = float(entry.get("at") or 0)
    except (ValueError, KeyError, TypeError):
        log.warning("organize journal: skipped a damaged line (%d bytes)", len(raw))
        return 0
    if op == "board_rename" and isinstance(entry.get("board"), str) and isinstance(entry.get("to"), str):
        _rename_board(conn, entry["board"], entry["to"], at)
    elif op == "board_delete" and isinstance(entry.get("board"), str):
        conn.execute("DELETE FROM board_images WHERE board=?", (entry["board"],))
        conn.execute("DELETE FROM boards WHERE name=?", (entry["board"],))
    elif op in ("board_add", "board_remove") and isinstance(entry.get("board"), str):
        board = entry["board"]
        if op == "board_add":
            conn.execute("INSERT OR IGNORE INTO boards(name, created_at) VALUES (?, ?)", (board, at))
            conn.executemany(
                "INSERT OR IGNORE INTO board_images(board, sha256) VALUES (?, ?)", ((board, s) for s in images)
            )
        else:
            conn.executemany("DELETE FROM board_images WHERE board=? AND sha256=?", ((board, s) for s in images))
    elif op in ("tag_add", "tag_remove") and isinstance(entry.get("tags"), list):
        pairs = [(s, t) for s in images for t in entry["tags"] if isinstance(t, str)]
        if op == "tag_add":
            conn.executemany("INSERT OR IGNORE INTO tags(sha256, tag) VALUES (?, ?)", pairs)
        else:
            conn.executemany("DELETE FROM tags WHERE sha256=? AND tag=?", pairs)
    elif op == "rate" and entry.get("rating") in (0, 1, 2, 3, 4, 5, "rejected"):
        rating = REJECTED if entry["rating"] == "rejected" else entry["rating"]
        if rating == 0:
            conn.executemany("DELETE FROM ratings WHERE sha256=?", ((s,) for s in images))
        else:
            conn.executemany(
                "INSERT OR REPLACE INTO ratings(sha256, rating) VALUES (?, ?)", ((s, rating) for s in images)
            )
    else:
        log.warning("organize journal: skipped an unknown operation %r", op)
        return 0
    return 1


def _rename_board(conn: sqlite3.Connection, old: str, new: str, at: float) -> None:
    """Renames a board; onto an existing one (two processes raced), the images join it."""
    if old == new:
        return
    row = conn.execute("SELECT created_at FROM boards WHERE name=?", (old,)).fetchone()
    if row is None:
        return
    conn.execute("INSERT OR IGNORE INTO boards(name, created_at) VALUES (?, ?)", (new, row[0] if row[0] else at))
    conn.execute(
        "INSERT OR IGNORE INTO board_images(board, sha256) SELECT ?, sha256 FROM board_images WHERE board=?", (new, old)
    )
    conn.execute("DELETE FROM board_images WHERE board=?", (old,))
    conn.execute("DELETE FROM boards WHERE name=?", (old,))


# --- reading --------------------------------------------------------------------------------------------------


SINCE_SCHEMA = 5  # an older index (a library opened for browsing only, not migrated) has none of these tables


def mirrored(conn: sqlite3.Connection) -> bool:
    return conn.execute("PRAGMA user_version").fetchone()[0] >= SINCE_SCHEMA


def image_conditions(query, conn: sqlite3.Connection, alias: str = "i", probe: bool = False) -> tuple[list[str], list]:
    """SQL conditions on an image row for a HistoryQuery's board, tag, min_rating and include_rejected. probe: the
    min_rating as a lookup of each row's rating, for a walk of many rows (not a list of every rated image)."""
    where: list[str] = []
    args: list = []
    if not mirrored(conn):  # nothing is on a board, tagged or rated in an index without those tables
        return (["0"] if narrows(query) else []), []
    board = getattr(query, "board", None)
    tag = getattr(query, "tag", None)
    min_rating = getattr(query, "min_rating", None)
    if board:
        where.append(f"{alias}.sha256 IN (SELECT b.sha256 FROM board_images b WHERE b.board = ?)")
        args.append(board)
    if tag:
        where.append(f"{alias}.sha256 IN (SELECT t.sha256 FROM tags t WHERE t.tag = ?)")
        args.append(" ".join(tag.split()).lower())
    if min_rating and probe:
        where.append(f"EXISTS (SELECT 1 FROM ratings r WHERE r.sha256 = {alias}.sha256 AND r.rating >= ?)")
        args.append(int(min_rating))
    elif min_rating:
        where.append(f"{alias}.sha256 IN (SELECT r.sha256 FROM ratings r WHERE r.rating >= ?)")
        args.append(int(min_rating))
    elif not getattr(query, "include_rejected", False):
        where.append(f"NOT EXISTS (SELECT 1 FROM ratings r WHERE r.sha256 = {alias}.sha256 AND r.rating < 0)")
    return where, args


def narrows(query) -> bool:
    """True when the query keeps only images on a board, with a tag or a rating (attempts without one drop out)."""
    return bool(getattr(query, "board", None) or getattr(query, "tag", None) or getattr(query, "min_rating", None))


def info(conn: sqlite3.Connection, shas: list[str]) -> dict[str, dict]:
    """{sha256: {rating, tags, boards}} for these images (every sha given gets an entry)."""
    result = {s: {"rating": 0, "tags": [], "boards": []} for s in shas}
    unique = list(result) if mirrored(conn) else []
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for sha, rating in conn.execute(f"SELECT sha256, rating FROM ratings WHERE sha256 IN ({marks})", chunk):
            result[sha]["rating"] = rating_json(rating)
        for sha, tag in conn.execute(f"SELECT sha256, tag FROM tags WHERE sha256 IN ({marks}) ORDER BY tag", chunk):
            result[sha]["tags"].append(tag)
        sql = f"SELECT sha256, board FROM board_images WHERE sha256 IN ({marks}) ORDER BY board"
        for sha, board in conn.execute(sql, chunk):
            result[sha]["boards"].append(board)
    return result


def boards(conn: sqlite3.Connection) -> list[dict]:
    """Every board with how many images (in the library, not deleted) it holds, by name."""
    if not mirrored(conn):
        return []
    rows = conn.execute(
        "SELECT bo.name, (SELECT COUNT(*) FROM board_images b WHERE b.board = bo.name AND EXISTS"
        " (SELECT 1 FROM images i WHERE i.sha256 = b.sha256 AND NOT i.trashed)) FROM boards bo ORDER BY bo.name"
    )
    return [{"name": name, "count": count} for name, count in rows]


def all_ratings(conn: sqlite3.Connection, shas: list[str] | None = None) -> dict[str, int]:
    """{sha256: 1..5 stars, or -1 rejected} of every rated image, or of those among `shas`."""
    if not mirrored(conn):
        return {}
    if shas is None:
        return dict(conn.execute("SELECT sha256, rating FROM ratings").fetchall())
    found: dict[str, int] = {}
    for start in range(0, len(shas), 900):  # below SQLite's limit on a statement's parameters
        chunk = shas[start : start + 900]
        sql = f"SELECT sha256, rating FROM ratings WHERE sha256 IN ({','.join('?' * len(chunk))})"
        found.update(conn.execute(sql, chunk).fetchall())
    return found


def all_tags(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    if not mirrored(conn):
        return []
    return [tuple(r) for r in conn.execute("SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY COUNT(*) DESC, tag")]


def resolve(conn: sqlite3.Connection, root: Path, image: str) -> str:
    """An image's sha256 from its path or its sha256 (or an unambiguous prefix of 8+ hex digits). InputError if
    it names no image in the library, or more than one."""
    text = str(image).strip()
    candidate = Path(text).expanduser()
    for path in (candidate, root / candidate):
        try:
            resolved = path.resolve()
            rel = resolved.relative_to(root).as_posix()
        except (OSError, ValueError):
            rel = None
        if rel is not None:
            row = conn.execute("SELECT sha256 FROM images WHERE path=? AND NOT trashed", (rel,)).fetchone()
            if row:
                return row[0]
    if candidate.is_file():
        import hashlib

        digest = hashlib.sha256(candidate.read_bytes()).hexdigest()
        if conn.execute("SELECT 1 FROM images WHERE sha256=? AND NOT trashed", (digest,)).fetchone():
            return digest
        raise InputError(f"The image {text} is not in this library.")
    lowered = text.lower()
    if len(lowered) >= 8 and all(c in "0123456789abcdef" for c in lowered):
        found = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT sha256 FROM images WHERE sha256 >= ? AND sha256 < ? AND NOT trashed LIMIT 2",
                (lowered, lowered + "g"),
            )
        ]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InputError(f"{text} is the start of more than one image's sha256; give more of it.")
        raise InputError(f"No image in this library has a sha256 starting with {text}.")
    raise InputError(f"{text} is neither an image in this library nor a sha256 (8 or more hex digits).")


# --- the facade's side ----------------------------------------------------------------------------------------


WITHOUT_IMAGES = ("board_add", "board_rename", "board_delete")  # meaningful with an empty image list


def board_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM boards")} if mirrored(conn) else set()


def record(library, entry: dict) -> None:
    """Appends one operation to the library's journal and brings the index up to date with it."""
    if not entry["images"] and entry["op"] not in WITHOUT_IMAGES:
        return
    if library.read_only_reason:
        from services.errors import LibraryError
        from services.status import ErrorKind

        raise LibraryError(library.read_only_reason, kind=ErrorKind.READ_ONLY)
    from services.library import problems

    try:
        append(journal_path(library.meta_dir), entry)
    except OSError as exc:
        raise problems.disk_problem(library.root, exc) from exc
    catch_up(library)


def catch_up(library) -> int:
    """Applies what this or another process added to the journal since the index last looked."""
    if library.read_only_reason:
        return 0
    with library.index.session() as conn:
        return sync(conn, journal_path(library.meta_dir))
