"""The job queue behind the window: jobs wait for a slot, run, retry, finish; observers hear every change.

Plain asyncio (no Qt): the window adapts the events to its models. Every task is referenced until it ends
(asyncio keeps only weak references to tasks).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.endpoints import Endpoint
from services.errors import InputError
from services.events import GenerationEvent, ImageSaved, Retrying, Started
from services.generation import GenerationService, validate
from services.types import GenerationRequest, GenerationResult, SavedImage

log = logging.getLogger(__name__)
FINAL_STATES = ("done", "blocked", "no_image", "failed", "cancelled")


@dataclass(eq=False)
class Job:
    id: int
    request: GenerationRequest
    state: str = "waiting"  # waiting, running, retrying, done, blocked, no_image, failed, cancelled
    created_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    retry_at: float | None = None
    message: str = ""
    generation_id: str | None = None
    images: list[SavedImage] = field(default_factory=list)
    result: GenerationResult | None = None
    error_kind: str | None = None
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def elapsed(self, now: float | None = None) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or now or time.monotonic()) - self.started_at


Listener = Callable[[Job, str, object], None]  # (job, event, payload); events: added, changed, image, finished


class JobQueue:
    def __init__(
        self,
        service: GenerationService,
        connection: Callable[[], tuple[Endpoint, str | None, float]],
        max_parallel: int = 4,
    ):
        self.service = service
        self._connection = connection
        self._slots = asyncio.Semaphore(max_parallel)
        self._ids = itertools.count(1)
        self.jobs: list[Job] = []
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def set_max_parallel(self, value: int) -> None:
        self._slots = asyncio.Semaphore(max(1, value))
        self.service.set_max_parallel(value)

    def _emit(self, job: Job, event: str, payload=None) -> None:
        for listener in list(self._listeners):
            try:
                listener(job, event, payload)
            except Exception:  # a broken observer must not stop the queue
                log.exception("job listener failed")

    def check(self, request: GenerationRequest) -> GenerationRequest:
        """Raises InputError now, in the editor, for what would be refused before sending."""
        model = self.service.model_for(request)
        request = validate(request, model)
        endpoint, key, _ = self._connection()
        if endpoint.needs_key and not key:
            raise InputError("No API key for this endpoint: add one in Settings, or switch to the offline demo.")
        return request

    def submit(self, request: GenerationRequest) -> Job:
        self.check(request)
        job = Job(next(self._ids), request)
        self.jobs.append(job)
        job.task = asyncio.ensure_future(self._run(job))
        self._emit(job, "added")
        return job

    def retry(self, job: Job) -> Job:
        return self.submit(job.request)

    def cancel(self, job: Job) -> None:
        if job.task is not None and not job.task.done():
            job.task.cancel()

    def cancel_all(self) -> None:
        for job in self.jobs:
            self.cancel(job)

    def clear_finished(self) -> None:
        self.jobs = [j for j in self.jobs if not j.finished]

    def running(self) -> list[Job]:
        return [j for j in self.jobs if not j.finished]

    async def wait_all(self) -> None:
        tasks = [j.task for j in self.jobs if j.task is not None and not j.task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        def on_event(event: GenerationEvent) -> None:
            if isinstance(event, Started):
                job.generation_id = event.generation_id
            elif isinstance(event, ImageSaved):
                job.images.append(event.image)
                self._emit(job, "image", event.image)
            elif isinstance(event, Retrying):
                job.state = "retrying"
                job.retry_at = time.monotonic() + event.delay
                job.message = event.message
                self._emit(job, "changed")

        try:
            async with self._slots:
                job.state = "running"
                job.started_at = time.monotonic()
                self._emit(job, "changed")
                endpoint, key, timeout = self._connection()
                result = await self.service.generate(
                    job.request, endpoint=endpoint, key=key, timeout=timeout, on_event=on_event
                )
            job.result = result
            job.generation_id = result.generation_id
            job.error_kind = result.error_kind
            job.state = {"ok": "done", "blocked": "blocked", "no_image": "no_image"}.get(result.status, "failed")
            job.message = result.reason or result.text or ""
        except asyncio.CancelledError:
            job.state = "cancelled"
            job.message = "Cancelled."
        except InputError as exc:
            job.state = "failed"
            job.error_kind = "input"
            job.message = str(exc)
        except Exception as exc:  # one road for errors: a value the UI shows, and the log
            log.exception("job %d failed unexpectedly", job.id)
            job.state = "failed"
            job.message = f"Unexpected error: {exc}"
        finally:
            job.finished_at = time.monotonic()
            if job.started_at is None:
                job.started_at = job.finished_at
            self._emit(job, "finished")
