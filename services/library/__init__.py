"""The artist's library: image files are the truth, a SQLite index makes them findable.

One facade, `Library`, over modules that each keep one concern:
    schema      the index's tables, one numbered migration per version (PRAGMA user_version), backup of an older one
    index       per-thread connections, short write transactions, SQLite failures as LibraryError, a safe close
    files       where files live, atomic writes with the metadata inside or beside, thumbnails, kept references
    reading     what one image file says about itself (for the rebuild, the recovery and Undo)
    queries     history, the gallery's rows, filters and full-text search
    recovery    jobs of a dead process: interrupted, their saved files indexed, their temp files removed
    rebuild     a new index from the files, file by file, swapped in atomically
    trash       delete, Undo, and the purge to the system trash
    folders     folders added in place (folders.json), walking them, the periodic rescan
    importing   other tools' images: added in place or copied, rescanned, rebuilt
    organize    boards, tags and ratings: a journal in the library folder keyed by sha256, mirrored by the index
    similar     perceptual hashes and groups of look-alikes
(Over 400 lines: this is the facade, one thin method per operation; the logic lives in those modules.)

Deleting: an image's file moves at once into `.atelier/trash/` (its path kept below it), which the rebuild never
scans, so a rebuild cannot bring a deleted image back. Undo is keyed by the image's path relative to the library
root (`trash()` returns these keys, `restore()` takes them): a rebuild renumbers image ids but never renames a file.
The purge (when the window closes) sends each file in that folder to the system trash with send2trash and forgets the
index row only once the file is gone; a file the system trash refuses stays, with its row, until the next purge.
Nothing is ever deleted outright.

Every call here is blocking: call it from a worker thread (asyncio.to_thread), never from the GUI thread, except
the point lookups noted as such. Each thread gets its own connection; two processes may share the library.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from services import conversation, imaging
from services.errors import InputError, LibraryError
from services.library import importing, organize, problems, queries, recovery, schema, similar, threads
from services.library import rebuild as rebuilding
from services.library import trash as deletion
from services.library.files import GENERATOR, IMAGE_SUFFIXES, Files, iso, slugify
from services.library.folders import AddedFolder, FolderList, FolderWatch
from services.library.index import Index
from services.library.queries import HISTORY_COLUMNS, fts_query
from services.library.reading import ImageFile, UnreadableFile
from services.library.recovery import pid_alive
from services.library.rows import EVERYTHING, GalleryRow, HistoryEntry, HistoryQuery
from services.library.schema import MIGRATIONS, SCHEMA_VERSION
from services.status import STORED, ErrorKind, Status
from services.types import GenerationRequest, ReceivedImage, ReferenceImage, SavedImage, Usage

__all__ = [
    "GENERATOR",
    "HISTORY_COLUMNS",
    "IMAGE_SUFFIXES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "GalleryRow",
    "HistoryEntry",
    "HistoryQuery",
    "ImageFile",
    "Library",
    "UnreadableFile",
    "fts_query",
    "iso",
    "pid_alive",
    "slugify",
]

log = logging.getLogger(__name__)


class Library:
    def __init__(self, root: Path, *, prepare_qt: bool = True):
        """prepare_qt=False: for a process that makes no pictures (the import's child; 0.2 s of its start-up)."""
        self.root = Path(root).expanduser().resolve()
        self.files = Files(self.root)
        self.images_dir = self.files.images_dir
        self.meta_dir = self.files.meta_dir
        self.thumbs_dir = self.files.thumbs_dir
        self.db_path = self.meta_dir / "index.sqlite3"
        self.index = Index(self.root, self.db_path)
        self.folders = FolderList(self.meta_dir)
        if prepare_qt:
            imaging.prepare_qt()

    @property
    def read_only_reason(self) -> str | None:
        """Set when the library opened for browsing only (a full disk, a read-only folder): says why."""
        return self.index.read_only_reason

    # --- opening and closing -------------------------------------------------------------------------------------

    def open(self) -> Library:
        """Creates the folders and the index if needed, migrates, and marks jobs of dead processes interrupted.

        A library on a full disk or a read-only folder opens for browsing only (see read_only_reason): the
        history stays readable, and every write says why it cannot happen.
        """
        self.index.reopen()
        self.index.read_only_reason = None
        try:
            self.images_dir.mkdir(parents=True, exist_ok=True)
            self.thumbs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self.db_path.exists():
                raise LibraryError(f"Cannot create the library folder {self.root}: {exc.strerror or exc}.") from exc
        try:
            with self.index.session() as conn:
                schema.migrate(conn, self.db_path)
            recovery.mark_interrupted(self)
            organize.catch_up(self)  # boards, tags, ratings from the journal (all of it after a rebuild)
        except LibraryError as problem:
            self.index.close()
            if problem.kind not in (ErrorKind.DISK_FULL, ErrorKind.READ_ONLY) or not self.db_path.exists():
                raise
            self._open_for_browsing(problem)
        return self

    def _open_for_browsing(self, problem: LibraryError) -> None:
        self.index.reopen()
        self.index.read_only_reason = str(problem)
        try:
            version = schema.version_of(self.index.connection())
        except LibraryError:
            self.index.close()
            raise problem from None
        if not schema.READABLE_SINCE <= version <= schema.SCHEMA_VERSION:
            self.index.close()
            raise problem
        log.warning("library opened for browsing only: %s", problem)

    def close(self) -> None:
        """Safe while other threads use the library: they finish first; afterwards every call raises LibraryError."""
        self.index.close()

    def _conn(self):
        """This thread's connection (tests reach the index through it)."""
        return self.index.connection()

    def check_writable(self) -> None:
        """Raises LibraryError when an image could not be saved now (read-only folder, full disk)."""
        if self.read_only_reason:
            raise LibraryError(self.read_only_reason, kind=ErrorKind.READ_ONLY)
        try:
            self.files.check_writable()
        except OSError as exc:
            raise problems.disk_problem(self.root, exc) from exc

    # --- recording a generation ----------------------------------------------------------------------------------

    def begin(
        self,
        request: GenerationRequest,
        *,
        endpoint: str,
        protocol: str,
        created_at: float | None = None,
        generation_id: str | None = None,
    ) -> str:
        """Records a running job, and keeps its reference images' bytes so that a retry can send them again.
        `generation_id`: one chosen by the caller (a batch result's, derived from its batch and key)."""
        if self.read_only_reason:
            raise LibraryError(self.read_only_reason, kind=ErrorKind.READ_ONLY)
        try:
            self.files.keep_references(request.references)
        except OSError as exc:
            raise problems.disk_problem(self.root, exc) from exc
        generation_id = generation_id or uuid.uuid4().hex
        pid, started = recovery.this_process()
        lineage = request.lineage or {}
        self.index.write(
            "INSERT INTO generations(id, created_at, prompt, model, endpoint, protocol, params, status, pid,"
            " pid_started, parent_id, parent_image_index, thread_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                generation_id,
                created_at or time.time(),
                request.prompt,
                request.model,
                endpoint,
                protocol,
                json.dumps(request.record(), ensure_ascii=False),
                Status.RUNNING,
                pid,
                started,
                lineage.get("parent_generation_id"),
                lineage.get("parent_image_index"),
                lineage.get("thread_id"),
            ),
        )
        return generation_id

    def image_path(self, generation_id: str, index: int, prompt: str, mime: str, created_at: float) -> Path:
        return self.files.image_path(generation_id, index, prompt, mime, created_at)

    def save_image(
        self,
        generation_id: str,
        index: int,
        image: ReceivedImage,
        *,
        request: GenerationRequest,
        endpoint: str,
        text: str = "",
        created_at: float | None = None,
        conversation: dict | None = None,
        thumbnail: bool = True,
    ) -> SavedImage:
        """Writes the file (atomically, metadata inside or beside), its thumbnail, then its index row.

        `created_at` is the generation's (looked up when not given), so the image sorts with its generation.
        `thumbnail=False`: the caller makes it (ensure_thumbnail, in a worker of its own) or leaves it to the gallery."""
        if created_at is None:
            row = self.index.one("SELECT created_at FROM generations WHERE id=?", (generation_id,))
            created_at = row[0] if row else time.time()
        path = self.files.image_path(generation_id, index, request.prompt, image.mime_type, created_at)
        record = {
            "atelier": 1,
            "generator": GENERATOR,
            "generation_id": generation_id,
            "index": index,
            "created_at": iso(created_at),
            "created_ts": created_at,
            "model": request.model,
            "endpoint": endpoint,
            "request": request.record(),
            "text": text,
        }
        if conversation:  # the turn this image came from, for a refine (services/conversation.py)
            record["conversation"] = conversation
        try:
            data = self.files.write_image(path, image, record)
        except OSError as exc:
            raise problems.disk_problem(self.root, exc) from exc
        sha = hashlib.sha256(data).hexdigest()
        thumbnail = self.files.write_thumbnail(path, sha) if thumbnail else None
        cursor = self.index.write(
            "INSERT INTO images(generation_id, idx, path, width, height, mime_type, sha256, size_bytes, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (generation_id, index, self.files.relative(path), image.width, image.height, image.mime_type, sha)
            + (len(data), created_at),
        )
        return SavedImage(
            cursor.lastrowid,
            generation_id,
            index,
            str(path),
            image.width,
            image.height,
            image.mime_type,
            sha,
            str(thumbnail) if thumbnail else None,
        )

    def finish(
        self,
        generation_id: str,
        *,
        status: Status | str,
        reason: str | None = None,
        text: str = "",
        error: dict | None = None,
        attempts: int = 0,
        cost_usd: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        status = Status(status)
        if status not in STORED:
            raise ValueError(f"{status!r} is a job's state, not one a generation is stored with")
        self.index.write(
            "UPDATE generations SET status=?, reason=?, text=?, error=?, attempts=?, cost_usd=?, usage=?,"
            " finished_at=? WHERE id=?",
            (
                status,
                reason,
                text or "",
                json.dumps(error) if error else None,
                attempts,
                cost_usd,
                json.dumps(usage.as_dict()) if usage else None,
                time.time(),
                generation_id,
            ),
        )

    # --- thumbnails ----------------------------------------------------------------------------------------------

    def thumbnail_path(self, sha: str) -> Path:
        return self.files.thumbnail_path(sha)

    def ensure_thumbnail(self, image_path: str, sha: str) -> Path | None:
        """The thumbnail file, made now from the image if it is missing. Blocking: call from a worker."""
        return self.files.write_thumbnail(Path(image_path), sha)

    # --- reading -------------------------------------------------------------------------------------------------

    def history(self, query: HistoryQuery = EVERYTHING, limit: int | None = 50, offset: int = 0) -> list[HistoryEntry]:
        with self.index.session() as conn:
            return queries.history(conn, self.root, query, limit, offset)

    def generation(self, generation_id: str) -> HistoryEntry | None:
        """A point lookup (fine on the GUI thread)."""
        with self.index.session() as conn:
            return queries.generation(conn, self.root, generation_id)

    def gallery(
        self, query: HistoryQuery = EVERYTHING, limit: int | None = None, named: bool = True
    ) -> list[GalleryRow]:
        """Every image matching the query, newest first, and (with include_failed) the attempts without one.

        The first `limit` rows come in a few ms; all 100,000 take about 0.4 s. Call from a worker. named=False: plain
        tuples in GalleryRow's order, which CPython's cycle collector stops tracking (a GalleryRow stays tracked, and
        each full collection walked 100,000 of them: 75-170 ms of a held GIL, the window's longest stalls).
        """
        with self.index.session() as conn:
            return queries.gallery(conn, query, limit, named=named)

    def gallery_with_ratings(
        self, query: HistoryQuery = EVERYTHING, limit: int | None = None, cancelled: Callable[[], bool] | None = None
    ) -> tuple[list[tuple], dict[str, int]]:
        """gallery(query, limit, named=False) and {sha256: 1..5, or -1 rejected} of its rated images, read by the same
        query: a separate read of a first screen's 1,500 ratings took 8 ms of a search, all 83,000 ratings 125 ms
        of a full listing at 100,000 images. The dict's keys are the rows' own strings. Call from a worker.
        Cancelled once `cancelled()` says so (asked between chunks of rows)."""
        with self.index.session() as conn:
            rows = queries.gallery(conn, query, limit, named=False, with_rating=True, cancelled=cancelled)
        sha, width = GalleryRow.SHA256, len(GalleryRow._fields)  # the rating is the column after the row's
        ratings = {row[sha]: row[width] for row in rows if row[width] is not None}
        return [row[:width] for row in rows], ratings

    def gallery_rows(self, image_ids: Sequence[int] = (), generation_ids: Sequence[str] = ()) -> list[GalleryRow]:
        """The gallery rows of these images (a just-saved one, say) and of these generations' attempts without an
        image, exactly as gallery() shows them, newest first. A point lookup (fine on the GUI thread)."""
        with self.index.session() as conn:
            return queries.gallery_rows(conn, image_ids, generation_ids)

    def request_of(self, generation_id: str) -> GenerationRequest:
        """The request as it was sent, reference images included, byte for byte: what "Retry" sends. A refine's comes
        with its lineage and the conversation it continued (rebuilt from the parent image). Reads the kept references:
        call from a worker. LibraryError if the attempt, one of its references or its conversation is gone."""
        row = self.index.one("SELECT prompt, model, params FROM generations WHERE id=?", (generation_id,))
        if row is None:
            raise LibraryError("This attempt is no longer in the library.")
        prompt, model, params = row
        params = queries.loads(params) or {}
        references = []
        for record in params.get("references") or []:
            name = Path(str(record.get("path") or "reference")).name
            sha, mime = record.get("sha256"), record.get("mime_type")
            data = self.files.reference_bytes(sha, mime) if isinstance(sha, str) and isinstance(mime, str) else None
            if data is None:
                raise LibraryError(
                    f"The reference image {name} of this attempt is no longer kept in the library; add it again."
                )
            references.append(ReferenceImage(record["path"], mime, data))
        lineage = params.get("lineage") if isinstance(params.get("lineage"), dict) else None
        earlier = conversation.earlier_turns(self, lineage) if lineage else ()  # a refine continues its conversation
        return GenerationRequest(
            prompt=params.get("prompt", prompt),
            model=params.get("model", model),
            count=params.get("count") or 1,
            aspect_ratio=params.get("aspect_ratio"),
            size=params.get("size"),
            references=tuple(references),
            seed=params.get("seed"),
            person_generation=params.get("person_generation"),
            protocol=params.get("protocol"),
            conversation=earlier,
            lineage=dict(lineage) if lineage else None,
        )

    def find_generations(self, prefix: str, limit: int = 3) -> list[str]:
        """Generation ids starting with `prefix` (at most `limit`). A point lookup."""
        with self.index.session() as conn:
            return threads.find(conn, prefix, limit)

    def thread(self, generation_id: str) -> list[HistoryEntry]:
        """The turns from the thread's root down to this generation, root first; [] if it is unknown."""
        with self.index.session() as conn:
            return threads.path_to(conn, self.root, generation_id)

    def children(self, generation_id: str) -> list[str]:
        """The refines made from this generation (its branches), oldest first."""
        with self.index.session() as conn:
            return threads.children(conn, generation_id)

    def child_counts(self, generation_ids: Sequence[str]) -> dict[str, int]:
        """{generation id: how many refines were made from it}, for each of these ids."""
        with self.index.session() as conn:
            return threads.child_counts(conn, list(generation_ids))

    def models_used(self) -> list[str]:
        with self.index.session() as conn:
            return queries.models_used(conn)

    def count_images(self) -> int:
        with self.index.session() as conn:
            return queries.count_images(conn)

    # --- editing -------------------------------------------------------------------------------------------------

    def set_favourite(self, image_ids: list[int], value: bool) -> None:
        if image_ids:
            self.index.write(
                f"UPDATE images SET favourite=? WHERE id IN ({','.join('?' * len(image_ids))})",
                [int(value), *image_ids],
            )

    def trash(self, image_ids: Sequence[int], value: bool = True) -> list[str]:
        """Deletes images at once (their files go to the library's trash folder); returns the keys restore() takes.

        `trash(ids, False)` restores by image id, for callers that kept ids: ids do not survive a rebuild, keys do.
        """
        if not value:
            ids = list(image_ids)
            marks = ",".join("?" * len(ids))
            keys = [r[0] for r in self.index.rows(f"SELECT path FROM images WHERE id IN ({marks})", ids)] if ids else []
            return [row.path for row in self.restore(keys)]
        return deletion.trash(self, list(image_ids))

    def restore(self, keys: Iterable[str]) -> list[GalleryRow]:
        """Undoes trash(keys returned by it), even after a rebuild; the restored images' gallery rows."""
        return deletion.restore(self, keys)

    def delete_generations(self, generation_ids: list[str]) -> None:
        """Forgets attempts that have no image (a failed or blocked row the user removes)."""
        if generation_ids:
            self.index.write(
                f"DELETE FROM generations WHERE id IN ({','.join('?' * len(generation_ids))})"
                " AND NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = generations.id)",
                generation_ids,
            )

    def purge_trashed(self) -> int:
        """Sends deleted images to the system trash and forgets those really gone; how many went."""
        return deletion.purge(self)

    # --- organizing: boards, tags, ratings (organize.py), look-alikes (similar.py) --------------------------------

    def resolve_image(self, image: str) -> str:
        """An image's sha256 from its path or sha256 (8+ hex digits); InputError if none or several. A worker."""
        with self.index.session() as conn:
            return organize.resolve(conn, self.root, image)

    def board_add(self, board: str, shas: Sequence[str], remove: bool = False) -> None:
        op = "board_remove" if remove else "board_add"
        organize.record(self, organize.operation(op, list(shas), board=organize.clean_board(board)))

    def board_create(self, board: str) -> str:
        """An empty board (kept, unlike a name only typed in the window); its cleaned name."""
        name = organize.clean_board(board)
        organize.record(self, organize.operation("board_add", [], board=name))
        return name

    def board_rename(self, board: str, new_name: str) -> str:
        """InputError if there is no such board or the new name is another board's; the new name, cleaned."""
        old, new = organize.clean_board(board), organize.clean_board(new_name)
        organize.catch_up(self)  # what another process journaled counts too
        with self.index.session() as conn:
            names = organize.board_names(conn)
        if old not in names:
            raise InputError(f"There is no board named {old}.")
        if new != old and new in names:
            raise InputError(f"A board named {new} exists already; choose another name.")
        organize.record(self, organize.operation("board_rename", [], board=old, to=new))
        return new

    def board_delete(self, board: str) -> list[str]:
        """Forgets the board; its images stay in the library (and on their other boards). The sha256 of the images
        it held, to bring it back with board_add (an Undo)."""
        name = organize.clean_board(board)
        organize.catch_up(self)
        with self.index.session() as conn:
            if name not in organize.board_names(conn):
                raise InputError(f"There is no board named {name}.")
            held = [r[0] for r in conn.execute("SELECT sha256 FROM board_images WHERE board=?", (name,))]
        organize.record(self, organize.operation("board_delete", [], board=name))
        return held

    def tag(self, shas: Sequence[str], tags: Sequence[str], remove: bool = False) -> None:
        op = "tag_remove" if remove else "tag_add"
        organize.record(self, organize.operation(op, list(shas), tags=organize.clean_tags(tags)))

    def rate(self, shas: Sequence[str], rating: int | str) -> None:
        """0 clears, 1..5 stars, 'reject' hides the image (see HistoryQuery.include_rejected) without deleting it."""
        value = organize.rating_json(organize.parse_rating(rating))
        organize.record(self, organize.operation("rate", list(shas), rating=value))

    def boards(self) -> list[dict]:  # [{name, count}] by name
        with self.index.session() as conn:
            return organize.boards(conn)

    def tags(self) -> list[tuple[str, int]]:  # (tag, images), most used first
        with self.index.session() as conn:
            return organize.all_tags(conn)

    def ratings(self, shas: list[str] | None = None) -> dict[str, int]:
        """{sha256: 1..5, or -1 rejected} of the rated images (of those among `shas` if given). Call from a worker."""
        with self.index.session() as conn:
            return organize.all_ratings(conn, shas)

    def thread_turns(self) -> dict[str, int]:
        """{generation id: turns of its refine thread} for the generations in threads of two or more turns."""
        with self.index.session() as conn:
            return queries.thread_turns(conn)

    def organize_info(self, shas: Sequence[str]) -> dict[str, dict]:
        """{sha256: {rating: 0..5 | 'rejected', tags, boards}}."""
        organize.catch_up(self)
        with self.index.session() as conn:
            return organize.info(conn, list(shas))

    def compute_hashes(self, limit: int | None = None) -> int:  # perceptual hashes of those without; a worker
        return similar.compute_hashes(self, limit)

    def duplicates(self, threshold: int = similar.DEFAULT_THRESHOLD) -> list[list[dict]]:
        """Groups of look-alikes: [[{image_id, path, sha256, distance}]]. Blocking: call from a worker."""
        return similar.duplicates(self, threshold)

    def rebuild(self) -> dict:
        """A new index from the image files, swapped in atomically (see rebuild.py). Safe while other threads
        read: they wait for the swap. {images, generations, without_metadata, unreadable, skipped: [{path, reason}], damaged: [{path, reason}]}"""
        return rebuilding.rebuild(self)

    # --- other tools' images (importing.py, folders.py); all blocking: call from a worker -----------------------------

    def import_paths(self, paths: Iterable[Path], *, copy: bool = False, **progress) -> dict:
        """Adds folders in place or copies them in (copy=True); `progress`: see importing.add_paths. Its report."""
        self.check_writable()
        return importing.add_paths(self, paths, copy=copy, **progress)

    def rescan_folders(self, progress=None, cancel=None, on_batch=None) -> dict:
        return importing.rescan_all(self, progress, cancel, on_batch)

    def remove_folder(self, folder_id: str) -> None:  # the files stay where they are
        importing.remove_folder(self, folder_id)

    def relocate_folder(self, folder_id: str, new_path: Path) -> AddedFolder:  # moved (another computer, disk)
        return importing.relocate(self, folder_id, new_path)

    def watch_folders(self, interval: float = 60.0, on_change=None) -> FolderWatch:
        """rescan_folders now and every `interval` seconds in a worker thread, until stop()."""
        return FolderWatch(self.rescan_folders, interval, on_change).start()
