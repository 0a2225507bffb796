"""Reading the index: the history, the gallery's rows, filters and full-text search.

Each function takes the calling thread's connection (from Index.session) and returns plain values.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from services.errors import Cancelled
from services.library import organize
from services.library.rows import GalleryRow, HistoryEntry, HistoryQuery
from services.status import Status
from services.types import SavedImage

HISTORY_COLUMNS = "id, created_at, prompt, model, status, reason, text, params, endpoint, error, attempts, cost_usd"
# The gallery's columns, in GalleryRow's order; `{created}` is the generation's or (favourites) the image's time.
IMAGE_COLUMNS = (
    "i.id, i.generation_id, {created}, g.status, i.sha256, i.path, i.width, i.height, i.favourite, g.model, g.reason,"
    " {source}"
)
ATTEMPT_COLUMNS = "NULL, g.id, g.created_at, g.status, NULL, NULL, 0, 0, 0, g.model, g.reason, NULL"
RATING_COLUMN = "(SELECT r.rating FROM ratings r WHERE r.sha256 = i.sha256)"  # gallery(with_rating=True)'s 13th
# A search matching at most this many prompts (and, for a first screen, at most twice its rows: see few_matches)
# reads them by their seq and sorts them; a broader one walks the generations newest first until the LIMIT.
# Walking to the end for a three-word search (about 1,200 matches at 100,000 images) took 37 ms; reading them 15.
FEW_MATCHES = 2500
# Word for word the condition of the partial index generations_unfinished (schema step 4), so SQLite uses it.
UNFINISHED = "g.status NOT IN ('ok', 'imported')"
UNFINISHED_BEFORE_4 = "g.status <> 'ok'"  # step 2's condition, in an index opened for browsing only
assert (Status.OK, Status.IMPORTED) == ("ok", "imported")

_gallery_row = functools.partial(tuple.__new__, GalleryRow)  # the cheapest way to name 100,000 fetched tuples


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word must match, the last one as a prefix (search as you type)."""
    words = re.findall(r"\w+", text, re.UNICODE)
    if not words:
        return None
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def filters(query: HistoryQuery, alias: str = "g", matches: list[int] | None = None) -> tuple[list[str], list]:
    """SQL conditions on a generation row; `matches`: the search's seqs when already read (few_matches)."""
    where: list[str] = []
    args: list = []
    fts = fts_query(query.search) if query.search else None
    if query.search and fts is None:
        where.append("0")
    if fts and matches is not None:
        where.append(f"{alias}.seq IN ({','.join(map(str, matches))})")  # integers read from the index
    elif fts:
        where.append(f"{alias}.seq IN (SELECT rowid FROM generations_fts WHERE generations_fts MATCH ?)")
        args.append(fts)
    if query.model:
        where.append(f"{alias}.model = ?")
        args.append(query.model)
    if query.statuses:
        where.append(f"{alias}.status IN ({','.join('?' * len(query.statuses))})")
        args.extend(str(s) for s in query.statuses)
    if query.since is not None:
        where.append(f"{alias}.created_at >= ?")
        args.append(query.since)
    if query.until is not None:
        where.append(f"{alias}.created_at < ?")
        args.append(query.until)
    return where, args


def history(
    conn: sqlite3.Connection, root: Path, query: HistoryQuery, limit: int | None, offset: int
) -> list[HistoryEntry]:
    where, args = filters(query)
    if query.favourites_only:
        where.append("EXISTS (SELECT 1 FROM images i WHERE i.generation_id=g.id AND i.favourite AND NOT i.trashed)")
    shown, shown_args = organize.image_conditions(query, conn)
    if shown:  # a generation shows when one of its images does, or (unless narrowed) when it has none
        some = "EXISTS (SELECT 1 FROM images i WHERE i.generation_id=g.id AND NOT i.trashed AND " + " AND ".join(shown)
        none = "" if organize.narrows(query) else " OR NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id=g.id)"
        where.append(f"({some}){none})")
        args += shown_args
    sql = f"SELECT {HISTORY_COLUMNS} FROM generations g"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY g.created_at DESC, g.seq DESC"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        args += [limit, offset]
    entries = [entry_from_row(row) for row in conn.execute(sql, args).fetchall()]
    attach_images(conn, root, entries, query)
    return entries


def generation(conn: sqlite3.Connection, root: Path, generation_id: str) -> HistoryEntry | None:
    row = conn.execute(f"SELECT {HISTORY_COLUMNS} FROM generations WHERE id=?", (generation_id,)).fetchone()
    if row is None:
        return None
    entry = entry_from_row(row)
    attach_images(conn, root, [entry])
    return entry


def attach_images(conn: sqlite3.Connection, root: Path, entries: list[HistoryEntry], query=None) -> None:
    shown, shown_args = organize.image_conditions(query, conn) if query is not None else ([], [])
    shown_sql = "".join(f" AND {c}" for c in shown)
    by_id = {e.generation_id: e for e in entries}
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            "SELECT id, generation_id, idx, path, width, height, mime_type, sha256 FROM images i"
            f" WHERE NOT trashed AND generation_id IN ({','.join('?' * len(chunk))}){shown_sql} ORDER BY idx",
            [*chunk, *shown_args],
        ).fetchall()
        for image_id, gid, idx, path, width, height, mime, sha in rows:
            by_id[gid].images.append(SavedImage(image_id, gid, idx, str(root / path), width, height, mime, sha))


# The order by stars, in parts that each stop at the LIMIT: rated images (few, sorted), then the unrated newest first
# (a walk that stops early), then the rejected when shown. One query sorting every row by a looked-up rating took
# 160 ms for the first screen of 20,000 images; the parts take the time of a plain listing. A first screen takes
# the rated one level of stars at a time ("level"), each walked when dense (see dense()), else read and sorted:
# sorting all 80,000 rated images of 100,000 took 480 ms, the first 1,500 five-star ones walked 51 ms.
STAR_PARTS = {
    "stars": "stars.rating > 0",
    "unrated": "NOT EXISTS (SELECT 1 FROM ratings r WHERE r.sha256 = i.sha256)",
    "rejected": "i.sha256 IN (SELECT r.sha256 FROM ratings r WHERE r.rating < 0)",
}


def few_matches(conn: sqlite3.Connection, query: HistoryQuery, limit: int | None) -> list[int] | None:
    """The seqs of the generations a search matches when they are few, else None: at most FEW_MATCHES, and for a
    first screen at most twice its rows (a walk for 600 rows among 2,200 matches took 30 ms, reading them all 49).
    FTS5 streams its matches: finding that a broad search has more stops early (1.4 ms for "fox*" at 100,000)."""
    fts = fts_query(query.search) if query.search else None
    if not fts:
        return None
    few = FEW_MATCHES if limit is None else min(FEW_MATCHES, 2 * limit)
    sql = "SELECT rowid FROM generations_fts WHERE generations_fts MATCH ? LIMIT ?"
    seqs = [seq for (seq,) in conn.execute(sql, (fts, few + 1))]
    return seqs if len(seqs) <= few else None


def dense(conn: sqlite3.Connection, limit: int | None, rated: str, args: list) -> bool:
    """Whether the images rated so (`rated`: a condition on ratings) are dense enough that walking the generations
    newest first finds `limit` of them sooner than reading every one and sorting: about limit * images / count
    walked against count read, so count² >= limit * images. Counted in the index ratings_rating (schema step 7)."""
    if limit is None:
        return False
    count = conn.execute(f"SELECT count(*) FROM ratings WHERE {rated}", args).fetchone()[0]
    images = conn.execute("SELECT max(id) FROM images").fetchone()[0] or 0
    return count * count >= limit * images


def gallery(
    conn: sqlite3.Connection,
    query: HistoryQuery,
    limit: int | None,
    part: str | None = None,
    named: bool = True,
    with_rating: bool = False,
    level: int = 0,
    cancelled: Callable[[], bool] | None = None,
) -> list[GalleryRow]:
    """The gallery's rows; with_rating: plain tuples with a 13th column, the image's rating (None unrated), read
    by the probe that hides the rejected anyway. part and level: one part of the order by stars (STAR_PARTS).
    `cancelled`: asked between chunks of rows; Cancelled is raised once it says so."""
    if query.search and not fts_query(query.search):
        return []  # no words: a constant false condition also left SQLite no plan with INDEXED BY
    if query.by_rating and part is None and organize.mirrored(conn):
        if limit is None or query.search:  # (a search's rated matches: one read and sort, not one per level)
            parts = [("stars", 0)]
        else:  # a first screen: one level of stars at a time, the best first
            parts = [("level", n) for n in range(5, max(1, query.min_rating or 1) - 1, -1)]
        if not query.min_rating:
            parts += [("unrated", 0)] + ([("rejected", 0)] if query.include_rejected else [])
        rows: list[GalleryRow] = []
        for name, n in parts:
            rows += gallery(conn, query, None if limit is None else limit - len(rows), name, named, with_rating, n)
            if limit is not None and len(rows) >= limit:
                break
        return rows
    by_rating_only = organize.mirrored(conn) and not (query.board or query.tag)  # no other set to start from
    part_where, part_args = ([STAR_PARTS[part]] if part in STAR_PARTS else []), []
    walk_rated = False  # dense stars, found by walking the generations with a probe of each image's rating
    if part == "level":
        walk_rated = by_rating_only and dense(conn, limit, "rating = ?", [level])
        part_where = [
            "EXISTS (SELECT 1 FROM ratings r WHERE r.sha256 = i.sha256 AND r.rating = ?)"
            if walk_rated
            else "stars.rating = ?"
        ]
        part_args = [level]
        shown, shown_args = organize.image_conditions(replace(query, min_rating=None, include_rejected=True), conn)
    elif part is None and query.min_rating and by_rating_only and dense(conn, limit, "rating >= ?", [query.min_rating]):
        walk_rated = True
        shown, shown_args = organize.image_conditions(query, conn, probe=True)
    else:
        shown, shown_args = organize.image_conditions(query, conn)
    rated = part in ("stars", "level") and not walk_rated
    walks = walk_rated or (
        not rated and not query.favourites_only and not organize.narrows(query) and part != "rejected"
    )
    matches = few_matches(conn, query, limit) if walks and not walk_rated else None
    if matches == []:
        return []
    where, args = filters(query, matches=matches)
    image_where = ["NOT i.trashed", *where, *shown, *part_where]
    if query.favourites_only:
        image_where.append("i.favourite")
    newest, newest_args = newest_of_thread(query, conn)
    image_where += newest
    if rated:  # from the ratings: the rated images, then sorted (the images' stars are not in an index's order)
        source = "ratings stars JOIN images i ON i.sha256 = stars.sha256 JOIN generations g ON g.id = i.generation_id"
        created = "g.created_at"
    elif query.favourites_only:  # few rows: straight from the partial index of favourites
        source, created = "images i JOIN generations g ON g.id = i.generation_id", "i.created_at"
    elif not walks:
        # A board's, a tag's or a few stars' images: from their sha256s (300 ms to 2 ms).
        source, created = "images i JOIN generations g ON g.id = i.generation_id", "g.created_at"
    elif matches is not None:  # a search's few matches, by their seq
        source, created = "generations g JOIN images i ON i.generation_id = g.id", "g.created_at"
    else:
        # Walking generations newest first lets a LIMIT stop early, even under a search matching a quarter of
        # 100,000 prompts (150 ms to 18 ms for the first 1,500 rows), or ★3+ in 100,000 images half rated (424 ms
        # from the ratings to 20 ms). An image's created_at is its generation's.
        source, created = (
            "generations g INDEXED BY generations_created JOIN images i ON i.generation_id = g.id",
            "g.created_at",
        )
    columns = IMAGE_COLUMNS.format(created=created, source=_source_column(conn))
    if with_rating:
        columns += ", " + ("stars.rating" if rated else RATING_COLUMN if organize.mirrored(conn) else "NULL")
    sql = f"SELECT {columns} FROM {source} WHERE " + " AND ".join(image_where)
    all_args = [*args, *shown_args, *part_args, *newest_args]
    if query.include_failed and not query.favourites_only and not organize.narrows(query) and not query.by_rating:
        old = conn.execute("PRAGMA user_version").fetchone()[0] < 4
        failed_where = [
            UNFINISHED_BEFORE_4 if old else UNFINISHED,
            "g.status <> 'running'",
            "NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = g.id)",
            *where,
        ]
        # INDEXED BY: walk the few unfinished jobs, not a broad search's matches (19 ms under "fox").
        sql += (
            f" UNION ALL SELECT {ATTEMPT_COLUMNS}{', NULL' if with_rating else ''} FROM generations g"
            " INDEXED BY generations_unfinished WHERE " + " AND ".join(failed_where)
        )
        all_args += args
    if rated or part == "level":
        sql += " ORDER BY stars.rating DESC, 3 DESC, 1 DESC" if rated else " ORDER BY 3 DESC, 1 DESC"
    else:
        sql += " ORDER BY 3 ASC, 1 ASC" if query.oldest_first else " ORDER BY 3 DESC, 1 DESC"
    if limit is not None:
        sql += " LIMIT ?"
        all_args.append(limit)
    rows = _fetch(conn.execute(sql, all_args), cancelled)
    return list(map(_gallery_row, rows)) if named and not with_rating else rows


def _fetch(cursor: sqlite3.Cursor, cancelled: Callable[[], bool] | None) -> list:
    if cancelled is None:
        return cursor.fetchall()
    rows: list = []
    while chunk := cursor.fetchmany(_CHUNK_ROWS):
        if cancelled():
            raise Cancelled()
        rows += chunk
    return rows


_CHUNK_ROWS = 4096  # ~20 ms of a full listing: how late a cancelled one stops


THREADS_SINCE_SCHEMA = 6  # parent_id and thread_id on generations


def newest_of_thread(query: HistoryQuery, conn: sqlite3.Connection) -> tuple[list[str], list]:
    """With threads_collapsed: the condition that keeps an image only when no later generation of its refine thread
    has an image the same query shows (so a search or a rating filter collapses to the newest turn it lets in).

    A thread is its root's id: a refine's thread_id, or a root's own id (its thread_id is NULL). The probe goes
    through the partial index generations_thread, which holds only refines: a library without threads pays one
    empty index lookup per row."""
    if not query.threads_collapsed or conn.execute("PRAGMA user_version").fetchone()[0] < THREADS_SINCE_SCHEMA:
        return [], []
    where, args = filters(query, alias="c")
    shown, shown_args = organize.image_conditions(query, conn, alias="ci")
    extra = [*where, *shown] + (["ci.favourite"] if query.favourites_only else [])
    condition = (
        "NOT EXISTS (SELECT 1 FROM generations c JOIN images ci ON ci.generation_id = c.id AND NOT ci.trashed"
        " WHERE c.thread_id = COALESCE(g.thread_id, g.id) AND c.id <> g.id"
        " AND (g.thread_id IS NULL OR c.created_at > g.created_at OR (c.created_at = g.created_at AND c.seq > g.seq))"
        + "".join(f" AND {x}" for x in extra)
        + ")"
    )
    return [condition], [*args, *shown_args]


def thread_turns(conn: sqlite3.Connection) -> dict[str, int]:
    """{generation id: turns of its thread} for every generation in a thread of two or more finished turns (the
    root and its refines that made images). Reads only refines, through the partial index generations_thread."""
    if conn.execute("PRAGMA user_version").fetchone()[0] < THREADS_SINCE_SCHEMA:
        return {}
    members = conn.execute(
        "SELECT id, thread_id FROM generations INDEXED BY generations_thread WHERE thread_id IS NOT NULL"
        " AND status = 'ok'"
    ).fetchall()
    counts: dict[str, int] = {}
    for _child, root in members:
        counts[root] = counts.get(root, 1) + 1  # the root is a turn too
    turns = dict(counts)
    turns.update((child, counts[root]) for child, root in members)
    return turns


def _source_column(conn: sqlite3.Connection) -> str:
    """generations.source (schema step 4), or NULL in an older index opened for browsing only."""
    return "g.source" if conn.execute("PRAGMA user_version").fetchone()[0] >= 4 else "NULL"


def gallery_rows(conn: sqlite3.Connection, image_ids: Sequence[int], generation_ids: Sequence[str]) -> list[GalleryRow]:
    """The rows of these images, and of these generations' attempts without an image, as gallery() makes them."""
    image_ids, generation_ids = list(image_ids), list(generation_ids)
    parts, args = [], []
    if image_ids:
        parts.append(
            f"SELECT {IMAGE_COLUMNS.format(created='g.created_at', source=_source_column(conn))} FROM images i"
            " JOIN generations g"
            f" ON g.id = i.generation_id WHERE NOT i.trashed AND i.id IN ({','.join('?' * len(image_ids))})"
        )
        args += image_ids
    if generation_ids:
        parts.append(
            f"SELECT {ATTEMPT_COLUMNS} FROM generations g WHERE g.id IN ({','.join('?' * len(generation_ids))})"
            " AND NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = g.id)"
        )
        args += generation_ids
    if not parts:
        return []
    return list(map(_gallery_row, conn.execute(" UNION ALL ".join(parts) + " ORDER BY 3 DESC, 1 DESC", args)))


def models_used(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT model FROM generations ORDER BY model")]


def count_images(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM images WHERE NOT trashed").fetchone()[0]


def entry_from_row(row) -> HistoryEntry:
    gid, created, prompt, model, status, reason, text, params, endpoint, error, attempts, cost = row
    return HistoryEntry(
        gid,
        created,
        prompt,
        model,
        Status(status),
        reason,
        text or "",
        loads(params) or {},
        endpoint,
        loads(error),
        attempts or 0,
        cost,
    )


def loads(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
