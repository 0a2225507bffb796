"""Jobs whose process died: found at open, marked interrupted, their finished files indexed, their temp files gone.

A job's writer is a process: its pid and its start time (psutil), recorded when the job begins. A pid alone is not
enough: the system reuses pids, and a reused pid would keep a dead job "running" forever. psutil also avoids
os.kill(pid, 0), which on Windows sends CTRL_C_EVENT.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import psutil

from services.errors import LibraryError
from services.library.files import IMAGE_SUFFIXES
from services.library.queries import loads
from services.library.reading import UnreadableFile, read_image_file
from services.status import Status

if TYPE_CHECKING:
    from services.library import Library

log = logging.getLogger(__name__)
START_TIME_TOLERANCE = 1.0  # seconds: psutil derives the start time from boot time and clock ticks


_this_process: tuple[int, float | None] = (0, None)


def this_process() -> tuple[int, float | None]:
    """(pid, start time) of the running process, as stored with each job it begins; asked of the system once per
    process (a child has another pid, and asks again)."""
    global _this_process
    pid = os.getpid()
    if _this_process[0] != pid:
        try:
            _this_process = pid, psutil.Process().create_time()
        except (psutil.Error, OSError):
            return pid, None
    return _this_process


def pid_alive(pid: int | None, started: float | None = None, job_created_at: float | None = None) -> bool:
    """Whether the process that wrote a job still runs. `started` is its recorded start time (schema 3); a row from
    an older index has none, and then a process that started after the job began cannot be its writer."""
    if not pid:
        return False
    try:
        if not psutil.pid_exists(pid):
            return False
        now_started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError):
        return True  # cannot tell (another user's process): leave the job alone rather than call it interrupted
    if started is not None:
        return abs(now_started - started) <= START_TIME_TOLERANCE
    return job_created_at is None or now_started <= job_created_at + START_TIME_TOLERANCE


def mark_interrupted(library: Library) -> None:
    """Jobs whose process died: their finished image files are indexed, their temp files removed."""
    rows = library.index.rows(
        "SELECT id, pid, pid_started, created_at, params FROM generations g WHERE g.status NOT IN ('ok', 'imported') AND g.status = ?",
        (Status.RUNNING,),
    )
    for gid, pid, started, created_at, params in rows:
        if pid_alive(pid, started, created_at):
            continue
        recovered = recover_files(library, gid, created_at)
        asked = (loads(params) or {}).get("count") or 1
        reason = "Atelier stopped before this job finished."
        if recovered:
            reason += f" {recovered} of {asked} images were saved and are kept."
        library.index.write(
            "UPDATE generations SET status=?, reason=? WHERE id=? AND status=?",
            (Status.INTERRUPTED, reason + " Retry it to generate again.", gid, Status.RUNNING),
        )


def recover_files(library: Library, generation_id: str, created_at: float) -> int:
    """Indexes image files a dead process renamed into place but did not record; deletes its temp files.

    A file that cannot be read is skipped and logged (once: the job is interrupted after this, not looked at again).
    """
    files = library.files
    folder = files.image_path(generation_id, 0, "", "image/png", created_at).parent
    try:
        names = [p for p in folder.iterdir() if f"_{generation_id[:8]}_" in p.name]
    except OSError:
        return 0
    known = {row[0] for row in library.index.rows("SELECT path FROM images WHERE generation_id=?", (generation_id,))}
    recovered = 0
    for path in names:
        try:
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write cut short: the image never existed
                continue
            rel = files.relative(path)
            if path.suffix.lower() not in IMAGE_SUFFIXES or rel in known:
                continue
            found = read_image_file(path)
            if found.story is None or found.story.generation_id != generation_id:
                continue
        except (UnreadableFile, OSError) as exc:
            log.warning("skipped %s while recovering an interrupted job: %s", path, exc)
            continue
        except LibraryError:
            raise
        except Exception:  # noqa: BLE001 - one strange file must not stop the library from opening
            log.exception("skipped %s while recovering an interrupted job", path)
            continue
        library.index.write(
            "INSERT OR IGNORE INTO images(generation_id, idx, path, width, height, mime_type, sha256,"
            " size_bytes, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (generation_id, *found.image_values(rel, created_at)),
        )
        recovered += 1
    return recovered
