"""The SQLite index: one connection per thread, writes in short IMMEDIATE transactions, every SQLite failure
turned into a LibraryError, and a close that is safe while other threads are using the index.

Every use of a connection happens inside `session()`. close() (and a rebuild swapping the index file) waits for the
sessions in flight to end, interrupts them if they take too long, and only then closes the connections, so no
thread ever runs a statement on a closed connection; after close() every call gets LibraryError("... closed").
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from services.errors import LibraryError
from services.library import problems
from services.status import ErrorKind

log = logging.getLogger(__name__)
CLOSE_WAIT_SECONDS = 10.0  # then running statements are interrupted
INTERRUPT_WAIT_SECONDS = 5.0
WAL_KEPT_BYTES = 16 * 2**20  # a WAL grown by a big import is cut back to this once checkpointed


class Index:
    def __init__(self, root: Path, db_path: Path):
        self.root = root
        self.db_path = db_path
        self.read_only_reason: str | None = None  # set when the library opened for browsing only (full, read-only)
        self._gate = threading.Condition()
        self._in_use = 0  # sessions in flight, all threads
        self._closed = False
        self._exclusive = False  # a swap of the index file is under way: new sessions wait
        self._epoch = 0  # bumped when every connection is closed: a thread's cached one is then stale
        self._connections: list[sqlite3.Connection] = []
        self._local = threading.local()

    # --- sessions ------------------------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, which close() will not close until the block ends."""
        depth = getattr(self._local, "depth", 0)
        with self._gate:
            if depth == 0:
                while self._exclusive and not self._closed:
                    self._gate.wait()
            if self._closed:
                raise LibraryError(problems.CLOSED)
            self._in_use += 1
        self._local.depth = depth + 1
        try:
            yield self._thread_connection()
        except sqlite3.Error as exc:
            raise self.problem(exc) from exc
        finally:
            self._local.depth = depth
            with self._gate:
                self._in_use -= 1
                self._gate.notify_all()

    def _thread_connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.epoch == self._epoch:
            return conn
        if self.read_only_reason:
            # immutable: SQLite cannot make the WAL's shared-memory file on a full or read-only disk
            uri = self.db_path.resolve().as_uri() + "?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(self.db_path, timeout=15.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=15000")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
        with self._gate:
            self._connections.append(conn)
            self._local.conn, self._local.epoch = conn, self._epoch
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection outside a session, for tests and one-off statements."""
        with self.session() as conn:
            return conn

    # --- statements ----------------------------------------------------------------------------------------------

    def rows(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self.session() as conn:
            return conn.execute(sql, args).fetchall()

    def one(self, sql: str, args: Sequence = ()) -> tuple | None:
        with self.session() as conn:
            return conn.execute(sql, args).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        if self.read_only_reason:
            raise LibraryError(self.read_only_reason, kind=ErrorKind.READ_ONLY)
        with self.session() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """For the length of a big import, this thread's connection keeps 64 MB of pages and checkpoints the WAL
        every ~80 MB instead of every 4 MB: imported rows land on random pages of several indexes (their ids and
        hashes), and with the defaults every batch re-read them and rewrote the database. 20,000 rows: 1.24-1.30 s
        -> 0.64 s of writing, measured together (every 256 MB wrote 100,000 rows faster alone, 37-45 µs a row
        against 50-52, but imported them no faster: 13,100-13,300 a second against 14,100-14,700, alternately).
        Restored after. The WAL they leave is not checkpointed here (0.1-0.25 s for 20,000 rows, up to a fifth of
        the import): checkpoint() does it once the import has said it is done, or the next commit of any
        connection does; the file then shrinks back to WAL_KEPT_BYTES."""
        with self.session() as conn:
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA wal_autocheckpoint=20000")
        try:
            yield
        finally:
            with self.session() as conn:
                conn.execute("PRAGMA cache_size=-2000")  # SQLite's defaults
                conn.execute("PRAGMA wal_autocheckpoint=1000")

    def checkpoint(self) -> None:
        """Copies what the WAL holds into the index file, without waiting for readers (PASSIVE)."""
        with self.session() as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def write(self, sql: str, args: Sequence = ()) -> sqlite3.Cursor:
        with self.transaction() as conn:
            return conn.execute(sql, args)

    def problem(self, exc: sqlite3.Error) -> LibraryError:
        if self._closed:
            return LibraryError(problems.CLOSED)
        return problems.index_problem(self.root, self.db_path, exc)

    # --- opening and closing -------------------------------------------------------------------------------------

    def reopen(self) -> None:
        with self._gate:
            self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Safe from any thread, while others use the index: they finish (or are interrupted), then get LibraryError."""
        with self._gate:
            self._closed = True
            self._gate.notify_all()
        self._close_connections()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No connection open and no session in flight for the block (to swap the index file); others wait."""
        with self._gate:
            while self._exclusive:
                self._gate.wait()
            self._exclusive = True
        try:
            self._close_connections()
            yield
        finally:
            with self._gate:
                self._exclusive = False
                self._gate.notify_all()

    def _close_connections(self) -> None:
        mine = getattr(self._local, "depth", 0)  # a thread's own sessions do not wait for themselves
        with self._gate:
            idle = self._gate.wait_for(lambda: self._in_use <= mine, CLOSE_WAIT_SECONDS)
            if not idle:
                for conn in self._connections:
                    conn.interrupt()  # thread-safe: the statement ends with "interrupted"
                idle = self._gate.wait_for(lambda: self._in_use <= mine, INTERRUPT_WAIT_SECONDS)
            connections, self._connections = self._connections, []
            self._epoch += 1
        if not idle:
            # Closing a connection another thread is inside can crash the interpreter: leave them to the collector.
            log.warning("library connections still in use at close; left open")
            return
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
