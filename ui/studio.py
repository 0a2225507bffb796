"""The studio's controller: owns the job queue, the current endpoint, the cached key, the HTTP clients and model
discovery, and tells the window's parts what happens through typed Qt signals. No widget here.

Nothing it does waits on the system on the GUI thread: the endpoint (which may start the offline demo) and the key
(which may ask the keychain) are resolved on one worker thread, once, and again only when Settings change them.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from services.app import Services
from services.catalog import Catalog
from services.endpoints import Endpoint
from services.errors import InputError
from services.events import Draft
from services.generation import GenerationService
from services.http_pool import HttpPool
from services.jobs import (
    Connection,
    EndpointPaused,
    EndpointResumed,
    Job,
    JobAdded,
    JobChanged,
    JobEvent,
    JobFinished,
    JobImage,
    JobProgress,
    JobQueue,
    Pause,
)
from services.library import Library
from services.types import GenerationRequest, SavedImage
from ui.common import TaskSlots
from ui.drafts import DRAFT_EDGE, preview_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionState:
    endpoint: Endpoint
    ready: bool  # the endpoint is usable and its key has been looked up
    has_key: bool  # meaningful once ready; the demo needs none


class Studio(QObject):
    connectionChanged = Signal(ConnectionState)
    catalogChanged = Signal(Catalog)  # the catalog merged with what the endpoint says it serves
    libraryOpened = Signal(Library)
    jobAdded = Signal(Job)
    jobChanged = Signal(Job)
    imageSaved = Signal(Job, SavedImage)
    jobFinished = Signal(Job)
    thoughtShown = Signal(Job, str)  # the latest thought summary of a running job
    draftShown = Signal(Job, int, object)  # job, image index, a small QImage decoded off the GUI thread
    endpointPaused = Signal(Pause)
    endpointResumed = Signal(str)
    failed = Signal(str)  # a background step went wrong: one sentence

    def __init__(self, services: Services, parent=None):
        super().__init__(parent)
        self.services = services
        self.settings = services.settings
        self.catalog = services.catalog
        self.http = HttpPool()
        self.tasks = TaskSlots(self.failed.emit)
        self.endpoint = services.endpoint(cheap=True)  # shown before the first paint; made usable by refresh()
        self.key: str | None = None
        self._ready = asyncio.Event()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="studio")  # one at a time: one demo server
        self.library: Library | None = None
        self.queue: JobQueue | None = None

    # --- the library ------------------------------------------------------------------------------------------

    def attach_library(self, library: Library) -> None:
        parallel = int(self.settings.get("max_parallel", 4))
        self.library = library
        service = GenerationService(
            self.catalog, library, http=self.http, max_parallel=parallel, ledger=self.services.ledger()
        )
        self.queue = JobQueue(service, self.connection, max_parallel=parallel)
        self.queue.subscribe(self._on_job_event)
        self.libraryOpened.emit(library)

    # --- endpoint, key, models --------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def state(self) -> ConnectionState:
        return ConnectionState(self.endpoint, self.ready, bool(self.key) or not self.endpoint.needs_key)

    def refresh(self) -> asyncio.Task:
        """Resolves the saved endpoint and its key off the GUI thread, then asks which models it serves."""
        self._ready.clear()
        return self.tasks.run("connection", self._resolve())

    async def _resolve(self) -> None:
        loop = asyncio.get_running_loop()
        problem = None
        try:
            endpoint = await loop.run_in_executor(self._worker, self.services.endpoint)
            key = await loop.run_in_executor(self._worker, self.services.key_for, endpoint)
            # The endpoint's HTTP client too: loading the system's certificates takes 50-100 ms.
            await loop.run_in_executor(self._worker, self.http.client_for, endpoint)
        except Exception as exc:  # a saved URL that no longer parses, a demo that cannot start: jobs must not wait
            log.error("cannot use the saved endpoint", exc_info=exc)
            problem = f"The saved endpoint cannot be used ({type(exc).__name__}); check it in Settings."
            endpoint, key = self.endpoint, None
        self.endpoint, self.key = endpoint, key
        self.catalog = self.services.catalog
        if self.queue is not None:
            self.queue.service.catalog = self.catalog
        self._ready.set()
        self.connectionChanged.emit(self.state())
        self.catalogChanged.emit(self.catalog)
        if problem is not None:
            self.failed.emit(problem)  # after the connection's own banner, which it replaces
        elif not endpoint.needs_key or key:
            self.tasks.run("discovery", self._discover(endpoint, key))

    async def _discover(self, endpoint: Endpoint, key: str | None) -> None:
        from services.client import GeminiClient

        try:
            client = GeminiClient(endpoint, key, http=self.http.client_for(endpoint), timeout=30)
            models = await client.list_models()
        except Exception as exc:  # discovery is a nicety: the catalog still works
            log.info("model discovery failed: %s", type(exc).__name__)
            return
        self.catalog = self.services.catalog.merged_with_discovery(models)
        if self.queue is not None:
            self.queue.service.catalog = self.catalog
        self.catalogChanged.emit(self.catalog)

    async def connection(self) -> Connection:
        """What a job is sent with; a job that starts before the endpoint is known waits for it."""
        if not self.ready:
            if "connection" not in self.tasks.running_names():
                self.refresh()
            await self._ready.wait()
        return Connection(self.endpoint, self.key, float(self.settings.get("timeout_s", 120)))

    # --- jobs -------------------------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Job:
        """A new job, or InputError now for what would be refused before sending."""
        if self.queue is None:
            raise InputError("The library is still opening; try again in a moment.")
        if self.library.read_only_reason:
            raise InputError(self.library.read_only_reason + " New images cannot be saved.")
        if self.ready and self.endpoint.needs_key and not self.key:
            raise InputError("No API key for this endpoint: add one in Settings, or switch to the offline demo.")
        return self.queue.submit(request)

    def retry(self, job: Job) -> Job:
        return self.submit(job.request)

    def job_of(self, generation_id: str) -> Job | None:
        return self.queue.job_of(generation_id) if self.queue else None

    def cancel(self, job: Job) -> None:
        if self.queue is not None:
            self.queue.cancel(job)

    def cancel_all(self) -> None:
        if self.queue is not None:
            self.queue.cancel_all()

    def clear_finished(self) -> None:
        if self.queue is not None:
            self.queue.clear_finished()

    def active_jobs(self) -> int:
        return len(self.queue.running()) if self.queue else 0

    def set_max_parallel(self, value: int) -> None:
        if self.queue is not None:
            self.queue.set_max_parallel(value)

    def resume(self, endpoint: str) -> None:
        if self.queue is not None:
            self.queue.resume(endpoint)

    async def _show_draft(self, job: Job, draft: Draft) -> None:
        """A draft may be megabytes: it is decoded at thumbnail size on a worker thread."""
        image = await asyncio.to_thread(preview_image, draft.data, DRAFT_EDGE)
        if image is not None and not job.finished:
            self.draftShown.emit(job, draft.index, image)

    def _on_job_event(self, event: JobEvent) -> None:
        if isinstance(event, JobImage):
            self.imageSaved.emit(event.job, event.image)
        elif isinstance(event, JobChanged):
            self.jobChanged.emit(event.job)
        elif isinstance(event, JobAdded):
            self.jobAdded.emit(event.job)
        elif isinstance(event, JobFinished):
            self.jobFinished.emit(event.job)
        elif isinstance(event, JobProgress):
            if isinstance(event.event, Draft):
                self.tasks.run(None, self._show_draft(event.job, event.event))
            else:
                self.thoughtShown.emit(event.job, event.event.text)
        elif isinstance(event, EndpointPaused):
            self.endpointPaused.emit(event.pause)
        elif isinstance(event, EndpointResumed):
            self.endpointResumed.emit(event.endpoint)

    async def shutdown(self) -> None:
        """Cancels what runs (each job records how it ended), then closes the HTTP clients."""
        if self.queue is not None:
            self.queue.cancel_all()
            await self.queue.wait_all()
        self.tasks.cancel_all()
        await self.http.aclose()
        self._worker.shutdown(wait=False, cancel_futures=True)
