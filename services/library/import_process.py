"""An import run in a child process, for the window: reading and parsing thousands of files is pure Python and holds
a GIL most of the time; in a thread of the window's process that GIL is the GUI thread's too, and every time the
busy thread is preempted while holding it (a loaded machine) the GUI thread waits with it. In a child process the
import has a GIL of its own and the window only receives a few messages a second.

The child opens its own Library on the same folder (SQLite in WAL mode takes writers from several processes; each
batch is one short transaction) and runs Library.import_paths; progress, batches and the report come back over a
multiprocessing queue, Cancel goes over a multiprocessing event. The files are read by reader processes
(import_readers.py) started here at the same time as the child, so that they are ready when its walk is done; a
daemonic child may not start processes itself, and it must be daemonic (an app quitting mid-import must not wait
for it). The window starts them all when it opens its folder dialog (ImportProcesses), and gives them the folder
once it is chosen. The "spawn" start method everywhere: forking a
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


def _child(root: str, jobs, messages, cancel, reader_ends: list, log_file) -> None:
    from services.import_reading import log_to
    from services.library import Library  # in the child: imported once it runs
    from services.library.import_readers import Readers

    log_to(log_file)
    readers = Readers(reader_ends) if reader_ends else None  # none could start: the child reads the files itself
    library = None
    try:
        library = Library(Path(root), prepare_qt=False).open()
        messages.put(("ready",))
        job = _next_job(jobs)  # (paths, copy, sizes), or None: the import was not wanted after all
        if job is not None:
            paths, copy, sizes = job
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
            library.index.checkpoint()  # after the report: the window need not wait for it
    except Exception as exc:  # noqa: BLE001 - one sentence back to the window, which shows it
        messages.put(("failed", str(exc) or type(exc).__name__))
    finally:
        if readers:
            readers.close()
        if library is not None:
            library.close()


def _next_job(jobs) -> tuple | None:
    """The job the window gives once a folder is chosen; None when it gives none, or when it is gone (a window that
    crashed while its folder dialog was open leaves no process waiting forever)."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            return jobs.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return None


class ImportProcesses:
    """The processes of one import, started before its folder is known: the window starts them when it opens the
    folder dialog, so that the ~0.5 s they take to start (Python, the library's modules, the library opened) passes
    while the artist chooses, not after. run() gives them the job; close() ends them (unused, or after the job)."""

    def __init__(self, root: Path):
        context = multiprocessing.get_context("spawn")
        self.messages = context.Queue()
        self._jobs = context.Queue()
        self._cancel = context.Event()
        self._given = False
        self._early: list[tuple] = []  # a message wait_ready took that was not "ready"
        log_file = parent_log_file()
        try:
            self._readers, reader_ends = spawn_readers(reader_count(), log_file)
        except (OSError, RuntimeError) as exc:  # the child reads the files itself; slower, never refused
            log.warning("the import's reader processes could not start (%s)", exc)
            self._readers, reader_ends = [], []
        self._process = context.Process(
            target=_child,
            args=(str(root), self._jobs, self.messages, self._cancel, reader_ends, log_file),
            name="atelier-import",
            daemon=True,
        )
        try:
            self._process.start()
        finally:
            for end in reader_ends:  # the child has them now: the readers end with it
                end.close()

    def run(
        self,
        paths: Iterable[Path],
        *,
        copy: bool = False,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        on_batch: Callable[[list[int]], None] | None = None,
        batch_size: int | None = None,
    ) -> dict:
        """Library.import_paths in the child; blocks (call it from a worker thread) and calls `progress` and
        `on_batch` in the calling thread. Its report; LibraryError with the child's sentence when it failed. The
        processes end after it: their ending is waited for in the background once the report is in."""
        if self._given:
            raise LibraryError("These import processes have had their import.")
        self._given = True
        self._jobs.put(([str(p) for p in paths], copy, {} if batch_size is None else {"batch_size": batch_size}))
        report = None
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    self._cancel.set()
                try:
                    message = self._early.pop() if self._early else self.messages.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if not self._process.is_alive():
                        raise LibraryError("The import stopped unexpectedly; what it had added stays.") from None
                    continue
                kind = message[0]
                if kind == "progress" and progress:
                    progress(message[1], message[2])
                elif kind == "batch" and on_batch:
                    on_batch(message[1])
                elif kind == "done":
                    report = message[1]
                    return report
                elif kind == "failed":
                    raise LibraryError(message[1])
        finally:
            if report is None:
                self.close()
            else:  # every image is written: the child closing its library and readers need not be waited for
                threading.Thread(target=self.close, name="atelier-import-close", daemon=True).start()

    def wait_ready(self, timeout: float) -> bool:
        """Waits until the child has its library open (or failed to: run() then says why). Before run() only."""
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            return False
        if message[0] != "ready":
            self._early.append(message)
        return True

    def close(self) -> None:
        """Ends the processes (an import still running is cancelled; what it committed stays) and waits for them."""
        if not self._given:
            self._given = True
            self._jobs.put(None)
        self._cancel.set()
        for child, wait in ((self._process, 10), *((reader, 2) for reader in self._readers)):  # readers end with it
            child.join(wait)
            if child.is_alive():
                child.terminate()
        self.messages.close()
        self._jobs.close()


class Prepared:
    """ImportProcesses started by a thread of their own (starting three processes takes ~30 ms of the thread that
    does it), for an import whose folder is being chosen: take() them once it is, discard() them if none is."""

    def __init__(self, root: Path):
        self._started = threading.Event()
        self._processes: ImportProcesses | None = None
        threading.Thread(target=self._start, args=(root,), name="atelier-import-prepare", daemon=True).start()

    def _start(self, root: Path) -> None:
        try:
            self._processes = ImportProcesses(root)
        except Exception:  # noqa: BLE001 - the import starts its own then, and says why if that fails too
            log.warning("the import's processes could not be started ahead", exc_info=True)
        finally:
            self._started.set()

    def take(self) -> ImportProcesses | None:
        """The processes (waiting for them to have started, not to be ready), or None when they could not start."""
        self._started.wait(60)
        processes, self._processes = self._processes, None
        return processes

    def discard(self) -> None:
        """Ends them, in the background."""
        threading.Thread(target=self._end, name="atelier-import-discard", daemon=True).start()

    def _end(self) -> None:
        if (processes := self.take()) is not None:
            processes.close()


def import_in_process(root: Path, paths: Iterable[Path], *, processes: ImportProcesses | None = None, **run) -> dict:
    """Library.import_paths in a child process (ImportProcesses.run: its arguments, its report), in the processes
    given (started ahead, see ImportProcesses) or in new ones."""
    return (processes or ImportProcesses(root)).run(paths, **run)
