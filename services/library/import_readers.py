"""Reader processes for a big import: reading and parsing a file is ~60-80 µs of pure Python, writing its rows ~35 µs
of SQLite, and one process can only do one at a time (a reader thread beside the writer was measured to cost more
than it saved: the two fought over one GIL and 20,000 files took 5 s of CPU instead of 2.5).

Each reader is a process running import_reading.serve on one end of a pipe. The importing thread sends each reader
CHUNK items at a time, DEPTH chunks ahead, and receives (rows, failed) in the order it sent them, so the rows
arrive in the order of the items whichever reader read them. Readers end when they receive None or when the other
end of their pipe closes (the importing process ended, however it ended).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator

from services.errors import LibraryError
from services.import_reading import Row, parent_log_file, read_rows, serve

log = logging.getLogger(__name__)

READERS_FROM = 1000  # files: from this many, an import starts reader processes when it was given none
LOCAL_CHUNK = 32  # files read at a time when the importing process reads them itself
CHUNK = 128  # items per message: ~85 KB of rows back
DEPTH = 2  # chunks sent ahead to each reader, so that none waits for the writer to ask
MAX_READERS = 4


def readers_for(files: int) -> Readers | None:
    """Reader processes for READERS_FROM files or more, when this process may start processes (a daemonic one may
    not: it is given its readers). None: the importing process reads them itself (read_here), as it does when
    processes cannot start."""
    if files < READERS_FROM or multiprocessing.current_process().daemon:
        return None
    try:
        return Readers.spawn()
    except (OSError, RuntimeError) as exc:  # a system out of processes, or a frozen app without freeze_support
        log.warning("reading the files in this process: reader processes could not start (%s)", exc)
        return None


def read_here(items: list[tuple]) -> Iterator[tuple[list[Row], list[tuple[str, str]], int]]:
    """What Readers.read gives, read in this process."""
    for start in range(0, len(items), LOCAL_CHUNK):
        chunk = items[start : start + LOCAL_CHUNK]
        yield *read_rows(chunk), len(chunk)


def reader_count() -> int:
    return max(1, min(MAX_READERS, os.cpu_count() or 1))


def spawn_readers(count: int, log_file: str | None = None) -> tuple[list, list]:
    """Starts `count` reader processes; (the processes, the pipe ends to talk to them). The ends can be handed to
    another process (import_process does: a daemonic process may not start processes of its own)."""
    context = multiprocessing.get_context("spawn")  # see import_process.py for why spawn
    processes, ends = [], []
    for _ in range(count):
        ours, theirs = context.Pipe()
        process = context.Process(target=serve, args=(theirs, log_file), name="atelier-import-reader", daemon=True)
        process.start()
        theirs.close()  # the reader's end lives in the reader: its EOF is then the reader's end
        processes.append(process)
        ends.append(ours)
    return processes, ends


class Readers:
    """The importing side of the reader processes: read(items) in order, close() at the end."""

    def __init__(self, ends: list, processes: list | None = None):
        self._ends = ends
        self._processes = processes or []  # only the ones this object started, to join

    @classmethod
    def spawn(cls, count: int | None = None) -> Readers:
        processes, ends = spawn_readers(count or reader_count(), parent_log_file())
        return cls(ends, processes)

    def read(self, items: list[tuple]) -> Iterator[tuple[list[Row], list[tuple[str, str]], int]]:
        """(rows, failed (path, reason), how many items) for each CHUNK of `items`, in their order. Closing the
        iterator early waits for the chunks already sent, so the readers can serve the next call."""
        chunks = (items[start : start + CHUNK] for start in range(0, len(items), CHUNK))
        pending: deque = deque()  # (end, items in its chunk), in the order the chunks were sent

        def send(end) -> None:
            chunk = next(chunks, None)
            if chunk is not None:
                end.send(chunk)
                pending.append((end, len(chunk)))

        try:
            for _ in range(DEPTH):
                for end in self._ends:
                    send(end)
            while pending:
                end, count = pending.popleft()
                rows, failed = _receive(end)
                send(end)
                yield rows, failed, count
        except (OSError, ValueError) as exc:  # a broken pipe: the reader is gone
            raise _stopped() from exc
        finally:
            for end, _ in pending:
                try:
                    end.recv()
                except (EOFError, OSError):
                    pass

    def close(self) -> None:
        for end in self._ends:
            try:
                end.send(None)
            except (OSError, ValueError):
                pass
            end.close()
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()


def _receive(end) -> tuple[list[Row], list[tuple[str, str]]]:
    try:
        return end.recv()
    except (EOFError, OSError) as exc:
        raise _stopped() from exc


def _stopped() -> LibraryError:
    return LibraryError("A reader of the import stopped unexpectedly; what was added stays.")
