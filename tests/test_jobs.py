"""The job queue's state machine, its typed events and its resizable slots, against the emulator on loopback."""

import asyncio

import pytest

from services.client import RetryPolicy
from services.emulator import Fault, google_error
from services.jobs import TRANSITIONS, Connection, Job, JobAdded, JobFinished, JobImage, JobQueue
from services.parallel import ParallelLimit
from services.status import ErrorKind, Status
from services.types import GenerationRequest
from tests.conftest import run
from tests.helpers import demo_endpoint, service_for

MODEL = "gemini-3.1-flash-image"


def queue_for(library, emulator, retry_delay=0.01, **kw) -> tuple[JobQueue, list]:
    service = service_for(library, retry=RetryPolicy(base_delay=retry_delay, max_delay=retry_delay))

    async def connection():
        return Connection(demo_endpoint(emulator), None, 30)

    queue = JobQueue(service, connection, **kw)
    events = []
    queue.subscribe(events.append)
    return queue, events


def statuses(events, job) -> list:
    return [(type(e).__name__, e.job.status) for e in events if e.job is job and not isinstance(e, JobImage)]


def test_waiting_running_ok_with_typed_events(library, emulator):
    async def main():
        queue, events = queue_for(library, emulator)
        job = queue.submit(GenerationRequest("a harbour", MODEL, count=2))
        assert job.status is Status.WAITING and isinstance(events[0], JobAdded)
        await job.task
        return job, events

    job, events = run(main())
    assert job.status is Status.OK and len(job.images) == 2 and job.error_kind is None
    assert [type(e) for e in events].count(JobImage) == 2 and isinstance(events[-1], JobFinished)
    assert statuses(events, job)[-1] == ("JobFinished", Status.OK)


def test_a_retried_job_is_running_again_during_its_next_attempt(library, emulator):
    busy = google_error(503, "UNAVAILABLE", "The model is overloaded.")
    emulator.script(Fault(status=503, body=busy))
    emulator.latency = 0.3  # every real answer takes 0.3 s (a scripted fault answers at once): the second attempt
    seen = []

    async def main():
        queue, events = queue_for(library, emulator, retry_delay=0.05)
        job = queue.submit(GenerationRequest("a storm", MODEL))
        queue.subscribe(lambda e: seen.append((e.job.status, e.job.retry_at is not None)))
        while job.status is not Status.RETRYING:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.15)  # the wait is over; the second attempt is under way
        during_second_attempt = job.status
        await job.task
        return job, during_second_attempt

    job, during = run(main())
    assert during is Status.RUNNING
    assert (Status.RETRYING, True) in seen and (Status.RUNNING, False) in seen
    assert job.status is Status.OK and job.retry_at is None and len(job.images) == 1  # a real image, after the wait
    assert len([r for r in emulator.requests if r.path.lower().endswith("generatecontent")]) == 2


def test_cancelled_after_an_image_was_saved_ends_as_the_library_records_it(library, emulator):
    emulator.script(Fault(status=200), Fault(status=200, hang=True))  # one image, then a request that never ends

    async def main():
        queue, _ = queue_for(library, emulator)
        job = queue.submit(GenerationRequest("two lanterns", MODEL, count=2))
        while not job.images:
            await asyncio.sleep(0.01)
        queue.cancel(job)
        await job.task
        return job

    job = run(main())
    assert job.status is Status.OK and "Cancelled after 1 image" in job.message
    assert library.generation(job.generation_id).status == Status.OK


def test_cancelled_while_waiting_for_a_slot(library, emulator):
    emulator.script(Fault(status=200, hang=True))

    async def main():
        queue, events = queue_for(library, emulator, max_parallel=1)
        first = queue.submit(GenerationRequest("first", MODEL))
        second = queue.submit(GenerationRequest("second", MODEL))
        await asyncio.sleep(0.1)
        assert second.status is Status.WAITING
        queue.cancel(second)
        queue.cancel(first)
        await asyncio.gather(first.task, second.task)
        return first, second, events

    first, second, events = run(main())
    assert second.status is Status.CANCELLED and second.generation_id is None
    assert statuses(events, second) == [("JobAdded", Status.CANCELLED), ("JobFinished", Status.CANCELLED)]
    assert first.status is Status.CANCELLED


def test_an_unexpected_exception_ends_the_job_as_a_bug_not_running(library, emulator, monkeypatch):
    async def main():
        queue, events = queue_for(library, emulator)

        async def broken(*args, **kwargs):
            raise RuntimeError("nobody expected this")

        monkeypatch.setattr(queue.service, "generate", broken)
        job = queue.submit(GenerationRequest("a fox", MODEL))
        await job.task
        return job, events

    job, events = run(main())
    assert job.status is Status.ERROR and job.error_kind is ErrorKind.BUG and job.finished
    assert "log" in job.message and "nobody expected" not in job.message
    assert isinstance(events[-1], JobFinished)


def test_a_refusal_carries_its_error_kind(library, emulator):
    emulator.script(Fault(status=403, body=google_error(403, "PERMISSION_DENIED", "Method doesn't allow API key")))

    async def main():
        queue, _ = queue_for(library, emulator)
        job = queue.submit(GenerationRequest("a fox", MODEL))
        await job.task
        return job

    job = run(main())
    assert job.status is Status.ERROR and job.error_kind is ErrorKind.AUTH


def test_every_move_outside_the_machine_is_refused():
    job = Job(1, GenerationRequest("x", MODEL))
    for ending in (Status.OK, Status.BLOCKED, Status.NO_IMAGE, Status.ERROR, Status.CANCELLED):
        assert ending in TRANSITIONS[Status.WAITING] and ending in TRANSITIONS[Status.RETRYING]
    with pytest.raises(ValueError):
        job.move(Status.RETRYING)  # a job retries only after it ran
    job.move(Status.RUNNING)
    job.move(Status.RETRYING)
    job.move(Status.RUNNING)
    job.move(Status.OK)
    for status in Status:
        with pytest.raises(ValueError):
            job.move(status)  # an ended job stays ended


def test_slots_shrink_without_stopping_running_jobs_and_grow_at_once():
    async def main():
        slots = ParallelLimit(2)
        await slots.__aenter__()
        await slots.__aenter__()
        slots.set_limit(1)  # two still hold a slot; nobody new gets one until one is left
        third = asyncio.ensure_future(slots.__aenter__())
        await asyncio.sleep(0.01)
        assert not third.done()
        await slots.__aexit__(None, None, None)
        await asyncio.sleep(0.01)
        assert not third.done() and slots.active == 1
        await slots.__aexit__(None, None, None)
        await asyncio.wait_for(third, 1)
        assert slots.active == 1
        fourth = asyncio.ensure_future(slots.__aenter__())
        await asyncio.sleep(0.01)
        assert not fourth.done()
        slots.set_limit(3)
        await asyncio.wait_for(fourth, 1)
        return slots.active

    assert run(main()) == 2


def test_resizing_the_queue_while_jobs_run_never_exceeds_the_new_limit(library, emulator):
    emulator.latency = 0.2  # every answer takes a while, so jobs overlap

    async def main():
        queue, _ = queue_for(library, emulator, max_parallel=3)
        jobs = [queue.submit(GenerationRequest(f"job {i}", MODEL)) for i in range(6)]
        await asyncio.sleep(0.05)
        queue.set_max_parallel(1)
        most = 0
        while not all(j.finished for j in jobs):
            running = sum(j.status is Status.RUNNING for j in jobs)
            if all(j.status is not Status.RUNNING for j in jobs[:3]):
                most = max(most, running)
            await asyncio.sleep(0.005)
        return jobs, most

    jobs, most = run(main())
    assert all(j.status is Status.OK for j in jobs) and most == 1, (most, [j.status for j in jobs])


def test_submit_never_reaches_for_the_connection(library, emulator):
    """The endpoint and key are asked for when the job gets its slot, never inside submit()."""
    asked = []

    async def main():
        service = service_for(library)

        async def connection():
            asked.append("connection")
            return Connection(demo_endpoint(emulator), None, 30)

        queue = JobQueue(service, connection)
        job = queue.submit(GenerationRequest("a fox", MODEL))
        before = list(asked)
        await job.task
        return before, job

    before, job = run(main())
    assert before == [] and asked == ["connection"] and job.status is Status.OK
