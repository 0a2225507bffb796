"""Disk and SQLite failures turned into a LibraryError with a sentence and an ErrorKind the callers branch on."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from services.errors import LibraryError
from services.status import ErrorKind

CLOSED = "The library is closed."


def full_message(root: Path) -> str:
    return f"The disk holding the library ({root}) is full. Free some space, then retry."


def read_only_message(root: Path) -> str:
    return f"The library folder {root} is read-only. Choose another folder or fix its permissions."


def disk_problem(root: Path, exc: OSError) -> LibraryError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) or disk_nearly_full(root):
        return LibraryError(full_message(root), kind=ErrorKind.DISK_FULL)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LibraryError(read_only_message(root), kind=ErrorKind.READ_ONLY)
    return LibraryError(f"Cannot write to the library folder {root}: {exc.strerror or exc}.")


def index_problem(root: Path, db_path: Path, exc: sqlite3.Error) -> LibraryError:
    text = str(exc).lower()
    if "full" in text or ("i/o" in text and disk_nearly_full(root)):
        return LibraryError(full_message(root), kind=ErrorKind.DISK_FULL)
    if "readonly" in text:
        return LibraryError(read_only_message(root), kind=ErrorKind.READ_ONLY)
    if "not a database" in text or "malformed" in text or "corrupt" in text or "no such table" in text:
        return LibraryError(
            f"The library index {db_path} cannot be read ({exc}). Rebuild it from the image files "
            "(python main.py rebuild, or File > Rebuild index from image files).",
            kind=ErrorKind.INDEX_CORRUPT,
        )
    meta_dir = db_path.parent
    if ("unable to open" in text or "i/o" in text) and (not os.access(meta_dir, os.W_OK) or on_read_only_fs(root)):
        return LibraryError(read_only_message(root), kind=ErrorKind.READ_ONLY)
    if "locked" in text or "busy" in text:
        return LibraryError(
            "The library index is busy in another program (another Atelier window or command?). Retry in a moment.",
            kind=ErrorKind.INDEX_BUSY,
        )
    if "interrupted" in text:
        return LibraryError(CLOSED)
    return LibraryError(f"The library index {db_path} could not be used ({exc}).")


def on_read_only_fs(root: Path) -> bool:
    try:
        return bool(os.statvfs(root).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False


def disk_nearly_full(root: Path) -> bool:
    try:
        return shutil.disk_usage(root).free < 1024 * 1024
    except OSError:
        return False
