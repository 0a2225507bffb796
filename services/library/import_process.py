"""An import run in a child process, for the window: reading and parsing thousands of files is pure Python and holds
a GIL most of the time; in a thread of the window's process that GIL is the GUI thread's too, and every time the
busy thread is preempted while holding it (a loaded machine) the GUI thread waits with it. In a child process the
import has a GIL of its own and the window only receives a few messages a second.

The child opens its own Library on the same folder (SQLite in WAL mode takes writers from several processes; each
batch is one short transaction) and runs Library.import_paths; progress, batches and the report come back over a
multiprocessing queue, Cancel goes over a multiprocessing event. The files are read by reader processes
(import_readers.py) started here at the same time as the child, so that they are ready when its walk is done; a
daemonic child may not start processes itself, and it must be daemonic (an app quitting mid-import must not wait
for it). The "spawn" start method everywhere: forking a
process that runs Qt and other threads is not safe, and it is what Windows and macOS use anyway (main.py calls
multiprocessing.freeze_support() for the PyInstaller bundle).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from services.errors import LibraryError
from services.import_reading import parent_log_file
from services.library.import_readers import reader_count, spawn_readers

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1


def _child(root: str, paths: list[str], copy: bool, sizes: dict, messages, cancel, reader_ends: list, log_file) -> None:
    from services.import_reading import log_to
    from services.library import Library  # in the child: imported once it runs
    from services.library.import_readers import Readers

    log_to(log_file)
    readers = Readers(reader_ends) if reader_ends else None  # none could start: the child reads the files itself
    try:
        library = Library(Path(root), prepare_qt=False).open()
    except Exception as exc:  # noqa: BLE001 - one sentence back to the window, which shows it
        messages.put(("failed", str(exc) or type(exc).__name__))
        if readers:
            readers.close()
        return
    try:
        report = library.import_paths(
            [Path(p) for p in paths],
            copy=copy,
            progress=lambda done, total: messages.put(("progress", done, total)),
            cancel=cancel,  # a multiprocessing Event: is_set() like threading's
            on_batch=lambda ids: messages.put(("batch", ids)),
            readers=readers,
            **sizes,
        )
        messages.put(("done", report))
    except Exception as exc:  # noqa: BLE001 - likewise
        messages.put(("failed", str(exc) or type(exc).__name__))
    finally:
        if readers:
            readers.close()
        library.close()


def import_in_process(
    root: Path,
    paths: Iterable[Path],
    *,
    copy: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    on_batch: Callable[[list[int]], None] | None = None,
    batch_size: int | None = None,
) -> dict:
    """Library.import_paths in a child process; blocks (call it from a worker thread) and calls `progress` and
    `on_batch` in the calling thread. Its report; LibraryError with the child's sentence when it failed."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    child_cancel = context.Event()
    sizes = {} if batch_size is None else {"batch_size": batch_size}
    log_file = parent_log_file()
    try:
        readers, reader_ends = spawn_readers(reader_count(), log_file)
    except (OSError, RuntimeError) as exc:  # the child reads the files itself; slower, never refused
        log.warning("the import's reader processes could not start (%s)", exc)
        readers, reader_ends = [], []
    process = context.Process(
        target=_child,
        args=(str(root), [str(p) for p in paths], copy, sizes, messages, child_cancel, reader_ends, log_file),
        name="atelier-import",
        daemon=True,
    )
    try:
        process.start()
    finally:
        for end in reader_ends:  # the child has them now: the readers end with it
            end.close()
    try:
        while True:
            if cancel is not None and cancel.is_set():
                child_cancel.set()
            try:
                message = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not process.is_alive():
                    raise LibraryError("The import stopped unexpectedly; what it had added stays.") from None
                continue
            kind = message[0]
            if kind == "progress" and progress:
                progress(message[1], message[2])
            elif kind == "batch" and on_batch:
                on_batch(message[1])
            elif kind == "done":
                return message[1]
            elif kind == "failed":
                raise LibraryError(message[1])
    finally:
        child_cancel.set()
        for child, wait in ((process, 10), *((reader, 2) for reader in readers)):  # readers end with the child
            child.join(wait)
            if child.is_alive():
                child.terminate()
        messages.close()
