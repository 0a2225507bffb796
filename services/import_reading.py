"""One image file of any tool read into the index's row values (bytes, header, metadata, sha256), and the loop of a
reader process that does it for the import (library/import_readers.py).

It imports nothing of the library package, so that a reader process is ready ~60 ms after it starts instead of
~300. A row is a pair of plain tuples, the values of the `generations` and `images` inserts in
library/import_rows.py: plain tuples, because rows cross a pipe (pickling a NamedTuple with a dataclass inside
costs 24 µs a file, a pair of tuples 10).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from pathlib import Path

import orjson

from services import imaging, interop, metadata
from services.errors import UnreadableFile
from services.status import Status

MAX_FILE_BYTES = 256 * 1024 * 1024
READER_NICENESS = 5
READ_AHEAD_BYTES = 8 * 2**20  # read_rows reads this much before parsing it (or one file, when it is larger)
Row = tuple[tuple, tuple]  # (generation values, image values)
# Positions in a row's image values (import_rows._IMAGE_INSERT's columns).
KEY, SHA256, SIZE, MTIME, FAVOURITE = 1, 5, 6, 7, 9

_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per file (json.dumps with options)
_IMPORTED = Status.IMPORTED.value
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # once: a getattr that misses costs ~1 µs


def read_row(path: Path | str, key: str, folder_id: str | None, sidecar_of: Path | str | None = None) -> Row:
    """Reads one file (UnreadableFile with a sentence when it is not a whole image). `key`: its path in the index;
    `sidecar_of`: the image path whose Atelier sidecar to read when the file has no record inside (None: there is
    no sidecar)."""
    return row_of(read_whole_image(path), path, key, folder_id, sidecar_of)


def row_of(whole: tuple, path: Path | str, key: str, folder_id: str | None, sidecar_of: Path | str | None) -> Row:
    """read_row's row from what read_whole_image gave for the file."""
    data, mime, width, height, mtime = whole
    file_name = os.path.basename(key)
    info = metadata.read_info(data, file_name if path is key else os.path.basename(path), sidecar_of)
    # The whole file is read anyway (a PNG may carry its text after the image data), and its sha256 is its identity
    # for thumbnails, boards/tags/ratings and move detection: hashing it here costs ~1 µs for a small file.
    sha = hashlib.sha256(data).hexdigest()
    created = mtime if info.record is None else _created_at(info, mtime)
    generation_id = generation_id_of(key)
    generation = (generation_id, created, created, info.prompt, info.model or "unknown",
                  params_json(_params(info, file_name, width, height)), _IMPORTED, info.source)  # fmt: skip
    image = (generation_id, key, width, height, mime, sha, len(data), mtime, created, 0, folder_id)
    return generation, image


def params_json(params: dict) -> str:
    """The `params` column's JSON: orjson's (~0.5 µs for a usual file, json's C encoder ~5), or json's for what
    orjson refuses (a lone surrogate from a file name os.fsdecode escaped, an integer over 64 bits). Both decode to
    the same dict; the values are finite (interop._float), so orjson's NaN-as-null never applies."""
    try:
        return orjson.dumps(params).decode()
    except TypeError:  # orjson.JSONEncodeError
        return _JSON_ENCODE(params)


def read_rows(items: list[tuple]) -> tuple[list[Row], list[tuple[str, str]]]:
    """(path, key, folder_id, sidecar_of) items read: their rows and (path, reason) for the files that failed.

    The files are read first, READ_AHEAD_BYTES at most, and parsed after: parsing each file right after its read
    cost ~15% more (37 µs a file against 32, 20,000 small PNGs, alternately), the system calls in between leaving
    the parser's code and data cold every time."""
    rows, failed = [], []
    start = 0
    while start < len(items):
        wholes, size = [], 0
        while start + len(wholes) < len(items) and size < READ_AHEAD_BYTES:
            wholes.append(_attempt(read_whole_image, items[start + len(wholes)][0]))
            size += len(wholes[-1][0]) if isinstance(wholes[-1], tuple) else 0
        for (path, key, folder_id, sidecar), whole in zip(items[start : start + len(wholes)], wholes, strict=True):
            row = whole if isinstance(whole, str) else _attempt(row_of, whole, path, key, folder_id, sidecar)
            if isinstance(row, str):
                failed.append((str(path), row))
            else:
                rows.append(row)
        start += len(wholes)
    return rows, failed


def _attempt(function, *args):
    """function(*args), or the sentence saying why a file failed."""
    try:
        return function(*args)
    except UnreadableFile as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a reader's bug costs one file, with a sentence, not the import
        return f"It could not be read ({type(exc).__name__})."


def serve(connection, log_file: str | None = None) -> None:
    """A reader process: lists of items in, (rows, failed) out, in order, until None or the other end closes."""
    log_to(log_file)
    if hasattr(os, "nice"):  # POSIX
        # Below the writer, the window and the artist's other programs: the import is background work, and its
        # one writer, which every row waits for, then gets a core first. 20,800 files a second against 20,000
        # (medians of ten runs each, alternately; the window's longest stall 8-11 ms against 9-13).
        with contextlib.suppress(OSError):  # a system that refuses it still gets its files read
            os.nice(READER_NICENESS)
    try:
        while (items := connection.recv()) is not None:
            connection.send(read_rows(items))
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # the importing process ended or was stopped: so does this one


def parent_log_file() -> str | None:
    """The file this process logs to (setup_logging's), for its import processes to log to as well."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename != os.path.abspath(os.devnull):
            return handler.baseFilename
    return None


def log_to(log_file: str | None) -> None:
    """In an import process: its warnings (a file whose metadata is damaged) go to the app's log file, appended
    line by line beside the window's own lines, instead of a console a windowed app does not have."""
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(processName)s]: %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)


def with_favourite(row: Row) -> Row:
    generation, image = row
    return generation, image[:FAVOURITE] + (1,) + image[FAVOURITE + 1 :]


def generation_id_of(key: str) -> str:
    return "import-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def read_whole_image(path: Path | str, max_bytes: int | None = MAX_FILE_BYTES) -> tuple[bytes, str, int, int, float]:
    """(bytes, mime, width, height, mtime) of an image file, or UnreadableFile with a sentence saying why not
    (max_bytes=None: no size limit). os.open/fstat/read: half the cost of open().read() for the small files of a
    big folder (the import's floor is reading them)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
        try:
            stat = os.fstat(fd)
            if max_bytes is not None and stat.st_size > max_bytes:
                raise UnreadableFile(f"It is larger than {max_bytes // 2**20} MB, too large for an image.")
            data = os.read(fd, stat.st_size + 1)
            if len(data) != stat.st_size:  # rare: a short read, or the file changed while being read
                parts, total = [data], len(data)
                while chunk := os.read(fd, 1 << 20):
                    parts.append(chunk)
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise UnreadableFile(f"It grew over {max_bytes // 2**20} MB while being read.")
                data = b"".join(parts)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UnreadableFile(f"It cannot be read ({exc.strerror or exc}).") from exc
    try:
        mime, width, height = imaging.check_image(data)
    except imaging.ImageFormatError as exc:
        raise UnreadableFile(f"It is not a whole image ({exc}).") from exc
    return data, mime, width, height, stat.st_mtime


def _created_at(info: interop.ImageInfo, mtime: float) -> float:
    created = (info.record or {}).get("created_ts")
    if isinstance(created, int | float) and not isinstance(created, bool) and math.isfinite(created) and created > 0:
        return float(created)
    return mtime


def _params(info: interop.ImageInfo, file_name: str, width: int, height: int) -> dict:
    params = {
        "source": info.source,
        "prompt": info.prompt,
        "negative_prompt": info.negative_prompt,
        "model": info.model,
        "seed": info.seed,
        "width": width,
        "height": height,
        "steps": info.steps,
        "sampler": info.sampler,
        "cfg": info.cfg,
        "parameters": info.parameters,
        "file": file_name,
    }
    if info.record and isinstance(info.record.get("generation_id"), str):
        params["atelier_generation_id"] = info.record["generation_id"]
    return params
