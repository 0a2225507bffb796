"""Refine threads in the index: finding a generation by an id prefix, and the path from a thread's root to a turn.

A refine's generation row carries parent_id, parent_image_index and thread_id (schema step 6); a root has none. The
same three values sit in the request record inside each image file (`request.lineage`), so a rebuild restores them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.library.queries import HISTORY_COLUMNS, attach_images, entry_from_row
from services.library.rows import HistoryEntry

MAX_DEPTH = 1000  # a guard against a cycle in hand-edited metadata


def lineage_values(lineage: dict) -> tuple:
    """parent_id, parent_image_index, thread_id from a record's `lineage`, each None where it is not well-formed."""
    parent = lineage.get("parent_generation_id")
    index = lineage.get("parent_image_index")
    thread = lineage.get("thread_id")
    return (
        parent if isinstance(parent, str) and parent else None,
        index if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 10_000 else None,
        thread if isinstance(thread, str) and thread else None,
    )


def find(conn: sqlite3.Connection, prefix: str, limit: int = 3) -> list[str]:
    """Ids that start with `prefix`, through the id's unique index (a range, not a scan)."""
    if not prefix:
        return []
    rows = conn.execute(
        "SELECT id FROM generations WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
        (prefix, prefix + "\U0010ffff", limit),
    )
    return [r[0] for r in rows]


def path_to(conn: sqlite3.Connection, root: Path, generation_id: str) -> list[HistoryEntry]:
    """The generations from the thread's root down to `generation_id`, root first."""
    rows = conn.execute(
        f"""WITH RECURSIVE up(gid, depth) AS (
                SELECT ?, 0
                UNION ALL
                SELECT g.parent_id, up.depth + 1 FROM generations g JOIN up ON g.id = up.gid
                WHERE g.parent_id IS NOT NULL AND up.depth < {MAX_DEPTH})
            SELECT {", ".join("g." + c.strip() for c in HISTORY_COLUMNS.split(","))}
            FROM up JOIN generations g ON g.id = up.gid ORDER BY up.depth DESC""",
        (generation_id,),
    ).fetchall()
    entries = [entry_from_row(row) for row in rows]
    attach_images(conn, root, entries)
    return entries


def children(conn: sqlite3.Connection, generation_id: str) -> list[str]:
    """The refines made from this generation (its branches), oldest first."""
    rows = conn.execute(
        "SELECT id FROM generations WHERE parent_id = ? ORDER BY created_at, seq", (generation_id,)
    ).fetchall()
    return [r[0] for r in rows]


def child_counts(conn: sqlite3.Connection, generation_ids: list[str]) -> dict[str, int]:
    """How many refines were made from each of these generations (more than one: the thread branches there)."""
    if not generation_ids:
        return {}
    marks = ",".join("?" * len(generation_ids))
    rows = conn.execute(
        f"SELECT parent_id, COUNT(*) FROM generations WHERE parent_id IN ({marks}) GROUP BY parent_id",
        list(generation_ids),
    ).fetchall()
    counts = dict.fromkeys(generation_ids, 0)
    counts.update({parent: count for parent, count in rows})
    return counts
