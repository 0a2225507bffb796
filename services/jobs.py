"""The job queue behind the window: jobs wait for a slot, run, retry, finish; observers hear every change.

Plain asyncio (no Qt): the window's controller turns the typed events into Qt signals. Every task is referenced
until it ends (asyncio keeps only weak references to tasks).

A job has one state machine, in the shared `Status` vocabulary:

    WAITING -> RUNNING <-> RETRYING -> the generation's final status (OK, BLOCKED, NO_IMAGE, ERROR, CANCELLED)
    WAITING / RUNNING -> PAUSED -> WAITING / RUNNING (its endpoint's quota is used up; see below)

WAITING, PAUSED and RETRYING may also end at once (cancelled, refused; BUDGET when a spending cap refuses it
before sending). A job cancelled after it saved images ends OK, as its generation is recorded; an unexpected
exception ends ERROR (ErrorKind.BUG), never a job left running.

Quota pauses (#15): a 429 that waiting a minute cannot cure (ErrorKind.DAILY_QUOTA, QUOTA) pauses the queue for
that endpoint: the job that hit it ends ERROR with its reason, jobs waiting for that endpoint are PAUSED until
`resume(endpoint)` (by hand, or by a timer at the daily quota's `resume_at`). A per-minute RATE_LIMIT only delays
(the client retries it).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.endpoints import Endpoint
from services.errors import BudgetError, InputError
from services.events import Draft, GenerationEvent, ImageSaved, Retrying, Started, Thought
from services.generation import GenerationService, validate
from services.ledger import endpoint_key
from services.parallel import ParallelLimit
from services.status import ErrorKind, Status
from services.types import GenerationRequest, GenerationResult, SavedImage

log = logging.getLogger(__name__)
ENDINGS = frozenset({Status.OK, Status.BLOCKED, Status.NO_IMAGE, Status.ERROR, Status.CANCELLED, Status.BUDGET})
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.WAITING: frozenset({Status.RUNNING, Status.PAUSED}) | ENDINGS,
    Status.RUNNING: frozenset({Status.RETRYING, Status.PAUSED}) | ENDINGS,
    Status.RETRYING: frozenset({Status.RUNNING}) | ENDINGS,
    Status.PAUSED: frozenset({Status.WAITING, Status.RUNNING}) | ENDINGS,
}
PAUSING = frozenset({ErrorKind.DAILY_QUOTA, ErrorKind.QUOTA})  # 429s that waiting a minute does not cure


@dataclass(frozen=True)
class Connection:
    """Where a job is sent: the endpoint, its key (None for the demo), and how long to wait for an answer."""

    endpoint: Endpoint
    key: str | None
    timeout: float = 120.0


@dataclass(eq=False)
class Job:
    id: int
    request: GenerationRequest
    status: Status = Status.WAITING
    created_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    retry_at: float | None = None
    message: str = ""
    generation_id: str | None = None
    recorded_at: float | None = None  # the generation's created_at in the library (wall clock)
    images: list[SavedImage] = field(default_factory=list)
    result: GenerationResult | None = None
    error_kind: ErrorKind | None = None
    thought: str = ""  # the latest thought summary while it runs
    paused_on: str | None = None  # the endpoint (its spending key) whose pause holds this job
    budget: BudgetError | None = None  # the cap that refused it (Status.BUDGET)
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ENDINGS

    def move(self, status: Status) -> None:
        """The one way a job changes status; a move the machine does not allow is a bug, refused loudly."""
        if status not in TRANSITIONS.get(self.status, ()):
            raise ValueError(f"job {self.id}: no move from {self.status} to {status}")
        self.status = status
        if status is not Status.RETRYING:
            self.retry_at = None

    def elapsed(self, now: float | None = None) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or now or time.monotonic()) - self.started_at


# --- what the queue tells its observers (typed: nobody matches strings) ------------------------------------------


@dataclass(frozen=True)
class JobAdded:
    job: Job


@dataclass(frozen=True)
class JobChanged:
    """The job's status, retry time or message changed."""

    job: Job


@dataclass(frozen=True)
class JobImage:
    job: Job
    image: SavedImage


@dataclass(frozen=True)
class JobFinished:
    job: Job


@dataclass(frozen=True)
class JobProgress:
    """A thought summary or a draft image the model streamed while the job runs (drafts are not kept on the job)."""

    job: Job
    event: Thought | Draft


@dataclass
class Pause:
    """The queue is paused for one endpoint (its spending key) until `resume_at` (epoch seconds), or until the artist
    resumes it when None."""

    endpoint: str
    kind: ErrorKind
    reason: str
    resume_at: float | None = None
    resumed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EndpointPaused:
    pause: Pause
    job: Job | None  # the job that hit the quota


@dataclass(frozen=True)
class EndpointResumed:
    endpoint: str


JobEvent = JobAdded | JobChanged | JobImage | JobFinished | JobProgress | EndpointPaused | EndpointResumed
Listener = Callable[[JobEvent], None]


class JobQueue:
    def __init__(
        self,
        service: GenerationService,
        connection: Callable[[], Awaitable[Connection]],
        max_parallel: int = 4,
    ):
        """`connection` is awaited when a job gets its slot; it must not touch any window (it may wait for the
        endpoint and key to be known)."""
        self.service = service
        self._connection = connection
        self.slots = ParallelLimit(max(1, max_parallel))
        self._ids = itertools.count(1)
        self.jobs: list[Job] = []
        self._listeners: list[Listener] = []
        self._retry_timers: dict[int, asyncio.TimerHandle] = {}
        self.pauses: dict[str, Pause] = {}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def set_max_parallel(self, value: int) -> None:
        self.slots.set_limit(max(1, value))
        self.service.set_max_parallel(value)

    def _emit(self, event: JobEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken observer must not stop the queue
                log.exception("job listener failed")

    def check(self, request: GenerationRequest) -> GenerationRequest:
        """Raises InputError now, in the editor, for what would be refused before sending."""
        return validate(request, self.service.model_for(request))

    def submit(self, request: GenerationRequest) -> Job:
        self.check(request)
        job = Job(next(self._ids), request)
        self.jobs.append(job)
        job.task = asyncio.ensure_future(self._run(job))
        self._emit(JobAdded(job))
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

    def job_of(self, generation_id: str) -> Job | None:
        return next((j for j in reversed(self.jobs) if j.generation_id == generation_id), None)

    async def wait_all(self) -> None:
        tasks = [j.task for j in self.jobs if j.task is not None and not j.task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _change(self, job: Job, status: Status) -> None:
        job.move(status)
        self._emit(JobChanged(job))

    # --- quota pauses ------------------------------------------------------------------------------------------

    def pause(self, endpoint: str, kind: ErrorKind, reason: str, resume_at: float | None, job: Job | None) -> Pause:
        """Holds the jobs for `endpoint` (waiting ones show PAUSED at once: the queue has one connection at a time)
        until resume(); a `resume_at` in epoch seconds resumes by itself then (one timer, no polling)."""
        old = self.pauses.get(endpoint)
        pause = Pause(endpoint, kind, reason, resume_at, old.resumed if old else asyncio.Event())
        if old is not None and old.timer is not None:
            old.timer.cancel()
        if resume_at is not None:
            delay = max(0.0, resume_at - time.time())
            pause.timer = asyncio.get_running_loop().call_later(delay, self.resume, endpoint)
        self.pauses[endpoint] = pause
        for waiting in self.jobs:
            if waiting.status is Status.WAITING:
                waiting.paused_on = endpoint
                self._change(waiting, Status.PAUSED)
        self._emit(EndpointPaused(pause, job))
        return pause

    def resume(self, endpoint: str) -> None:
        """Runs the jobs paused for `endpoint` again (a job refused again pauses it again)."""
        pause = self.pauses.pop(endpoint, None)
        if pause is None:
            return
        if pause.timer is not None:
            pause.timer.cancel()
        for job in self.jobs:
            if job.status is Status.PAUSED and job.paused_on == endpoint:
                job.paused_on = None
                self._change(job, Status.WAITING)
        pause.resumed.set()
        self._emit(EndpointResumed(endpoint))

    def _retrying(self, job: Job, event: Retrying) -> None:
        if job.status not in (Status.RUNNING, Status.RETRYING):
            return
        job.message = event.message
        if job.status is Status.RUNNING:
            job.move(Status.RETRYING)
        job.retry_at = time.monotonic() + event.delay
        timer = self._retry_timers.pop(job.id, None)
        if timer is not None:
            timer.cancel()
        # The next attempt starts when the wait is over: the job is RUNNING again from then on.
        self._retry_timers[job.id] = asyncio.get_running_loop().call_later(event.delay, self._attempt_starts, job)
        self._emit(JobChanged(job))

    def _attempt_starts(self, job: Job) -> None:
        self._retry_timers.pop(job.id, None)
        if job.status is Status.RETRYING:
            self._change(job, Status.RUNNING)

    async def _run(self, job: Job) -> None:
        def on_event(event: GenerationEvent) -> None:
            if isinstance(event, Started):
                job.generation_id = event.generation_id
                job.recorded_at = event.created_at
            elif isinstance(event, ImageSaved):
                job.images.append(event.image)
                self._emit(JobImage(job, event.image))
            elif isinstance(event, Retrying):
                self._retrying(job, event)
            elif isinstance(event, Thought | Draft):
                if isinstance(event, Thought):
                    job.thought = event.text
                self._emit(JobProgress(job, event))

        final, kind, message = Status.ERROR, ErrorKind.BUG, ""
        pausing: tuple | None = None
        try:
            while True:
                async with self.slots:
                    if job.status is Status.WAITING:
                        self._change(job, Status.RUNNING)
                    connection = await self._connection()
                    spend_key = endpoint_key(connection.endpoint)
                    pause = self.pauses.get(spend_key)
                    if pause is None:
                        if job.status is not Status.RUNNING:
                            job.paused_on = None
                            self._change(job, Status.RUNNING)
                        job.started_at = time.monotonic()
                        result = await self.service.generate(
                            job.request,
                            endpoint=connection.endpoint,
                            key=connection.key,
                            timeout=connection.timeout,
                            on_event=on_event,
                        )
                        break
                job.paused_on = spend_key
                if job.status is not Status.PAUSED:
                    self._change(job, Status.PAUSED)
                await pause.resumed.wait()
            job.result = result
            job.generation_id = result.generation_id
            final = Status(result.status)
            kind = ErrorKind(result.error_kind) if result.error_kind else None
            message = result.reason or result.text or ""
            if kind in PAUSING and final is Status.ERROR:
                resume_at = result.resume_at if kind is ErrorKind.DAILY_QUOTA else None
                pausing = (spend_key, kind, message, resume_at)
        except asyncio.CancelledError:
            # The generation is recorded OK when images were saved before the cancel: the job says the same.
            final, kind = (Status.OK, None) if job.images else (Status.CANCELLED, None)
            message = f"Cancelled after {len(job.images)} image(s)." if job.images else "Cancelled."
        except InputError as exc:
            final, kind, message = Status.ERROR, ErrorKind.INPUT, str(exc)
        except BudgetError as exc:  # refused before sending: nothing was recorded
            final, kind, message = Status.BUDGET, ErrorKind.BUDGET, str(exc)
            job.budget = exc
        except Exception as exc:  # one road for errors: a value the UI shows, and the log
            log.exception("job %d failed unexpectedly", job.id)
            final, kind = Status.ERROR, ErrorKind.BUG
            message = f"Something went wrong ({type(exc).__name__}); the details are in the log file."
        finally:
            timer = self._retry_timers.pop(job.id, None)
            if timer is not None:
                timer.cancel()
            job.finished_at = time.monotonic()
            if job.started_at is None:
                job.started_at = job.finished_at
            job.error_kind = kind
            job.message = message
            job.paused_on = None
            job.move(final if final in ENDINGS else Status.ERROR)
            self._emit(JobFinished(job))
            if pausing is not None:
                self.pause(*pausing, job)
