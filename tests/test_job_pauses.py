"""Quota pauses and budget refusals in the job queue (#15), against the emulator on loopback: a 429 that waiting a
minute cannot cure pauses the queue for that endpoint instead of failing every queued job; a per-minute one only
delays; a spending cap ends a job as BUDGET with its sentence."""

import asyncio
import time

from services.client import RetryPolicy
from services.emulator import Fault, google_error
from services.emulator.faults import retry_info
from services.jobs import Connection, EndpointPaused, EndpointResumed, JobProgress, JobQueue
from services.ledger import Ledger, endpoint_key
from services.status import ErrorKind, Status
from services.types import GenerationRequest
from tests.conftest import run
from tests.helpers import custom_endpoint, demo_endpoint, service_for

MODEL = "gemini-3.1-flash-image"


def quota_429(quota_id: str, *extra: dict) -> Fault:
    violation = {"quotaMetric": "generativelanguage.googleapis.com/generate_requests", "quotaId": quota_id}
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}, *extra]
    body = google_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details)
    return Fault(status=429, body=body)


def queue_for(library, endpoint, key=None, ledger=None, parallel=1):
    service = service_for(library, retry=RetryPolicy(base_delay=0.01, max_delay=0.01), ledger=ledger)

    async def connection():
        return Connection(endpoint, key, 30)

    queue = JobQueue(service, connection, max_parallel=parallel)
    events = []
    queue.subscribe(events.append)
    return queue, events


async def until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_daily_quota_pauses_the_endpoint_and_resuming_by_hand_runs_the_paused_jobs(library, emulator):
    emulator.script(quota_429("GenerateRequestsPerDayPerProjectPerModel"))

    async def main():
        queue, events = queue_for(library, demo_endpoint(emulator))
        first, second, third = (queue.submit(GenerationRequest(p, MODEL)) for p in ("a", "b", "c"))
        await first.task
        await asyncio.sleep(0.3)  # the others would have run by now if the queue were not paused
        held = (second.status, third.status, len(emulator.requests))
        pause = queue.pauses["demo"]
        queue.resume("demo")
        await asyncio.gather(second.task, third.task)
        return queue, events, first, second, third, held, pause

    queue, events, first, second, third, held, pause = run(main())
    assert first.status is Status.ERROR and first.error_kind is ErrorKind.DAILY_QUOTA
    assert "daily quota" in first.message
    assert held[:2] == (Status.PAUSED, Status.PAUSED) and held[2] == 1  # nothing more was sent while paused
    assert pause.kind is ErrorKind.DAILY_QUOTA and pause.resume_at == first.result.resume_at
    assert pause.resume_at > time.time() and pause.timer is not None and pause.timer.cancelled()
    paused = [e for e in events if isinstance(e, EndpointPaused)]
    assert len(paused) == 1 and paused[0].job is first
    assert [e.endpoint for e in events if isinstance(e, EndpointResumed)] == ["demo"]
    assert second.status is Status.OK and third.status is Status.OK and queue.pauses == {}


def test_a_per_minute_rate_limit_only_delays(library, emulator):
    emulator.script(quota_429("GenerateRequestsPerMinutePerProjectPerModel", retry_info(0.05)))

    async def main():
        queue, events = queue_for(library, demo_endpoint(emulator))
        jobs = [queue.submit(GenerationRequest(p, MODEL)) for p in ("a", "b")]
        await asyncio.gather(*(j.task for j in jobs))
        return queue, events, jobs

    queue, events, jobs = run(main())
    assert [j.status for j in jobs] == [Status.OK, Status.OK] and jobs[0].result.attempts >= 2
    assert queue.pauses == {} and not any(isinstance(e, EndpointPaused) for e in events)
    assert Status.PAUSED not in {e.job.status for e in events if hasattr(e, "job")}


def test_a_quota_waiting_cannot_cure_pauses_until_resumed_by_hand(library, emulator):
    zero = quota_429("GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    zero.body["error"]["details"][0]["violations"][0]["quotaValue"] = "0"
    emulator.script(zero)

    async def main():
        queue, _ = queue_for(library, demo_endpoint(emulator))
        first, second = queue.submit(GenerationRequest("a", MODEL)), queue.submit(GenerationRequest("b", MODEL))
        await first.task
        await until(lambda: second.status is Status.PAUSED)
        pause = queue.pauses["demo"]
        queue.cancel(second)  # a paused job can be cancelled; it holds no slot
        await asyncio.gather(second.task, return_exceptions=True)
        queue.resume("demo")
        third = queue.submit(GenerationRequest("c", MODEL))
        await third.task
        return first, second, third, pause

    first, second, third, pause = run(main())
    assert first.error_kind is ErrorKind.QUOTA and pause.resume_at is None and pause.timer is None
    assert second.status is Status.CANCELLED and third.status is Status.OK


def test_a_daily_pause_resumes_by_itself_at_resume_at(library, emulator):
    async def main():
        queue, events = queue_for(library, demo_endpoint(emulator))
        job = queue.submit(GenerationRequest("a", MODEL))
        queue.pause("demo", ErrorKind.DAILY_QUOTA, "The daily quota is used up.", time.time() + 0.3, job)
        await until(lambda: job.status is Status.PAUSED)
        await asyncio.wait_for(job.task, 10)
        return queue, events, job

    queue, events, job = run(main())
    assert job.status is Status.OK and queue.pauses == {}
    assert any(isinstance(e, EndpointResumed) for e in events)


def test_a_pause_holds_only_its_own_endpoint(library, emulator):
    async def main():
        queue, _ = queue_for(library, demo_endpoint(emulator))
        queue.pause("google", ErrorKind.QUOTA, "Used up.", None, None)
        job = queue.submit(GenerationRequest("a", MODEL))
        await asyncio.wait_for(job.task, 10)
        return job

    assert run(main()).status is Status.OK


def test_a_budget_refusal_ends_the_job_as_budget_with_its_sentence_and_nothing_sent(library, emulator, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    endpoint = custom_endpoint(emulator)
    ledger.set_budget(endpoint_key(endpoint), daily=0.0)

    async def main():
        queue, _ = queue_for(library, endpoint, key="test-key", ledger=ledger)
        job = queue.submit(GenerationRequest("a lighthouse", MODEL))
        await job.task
        return job

    job = run(main())
    ledger.close()
    assert job.status is Status.BUDGET and job.error_kind is ErrorKind.BUDGET
    assert "daily cap" in job.message and job.budget.endpoint == endpoint_key(endpoint)
    assert job.budget.period == "daily" and emulator.requests == []


def test_thoughts_and_drafts_reach_the_queue_observers_as_typed_progress(library, emulator):
    async def main():
        queue, events = queue_for(library, demo_endpoint(emulator))
        job = queue.submit(GenerationRequest("a kite", MODEL))
        await job.task
        return events, job

    events, job = run(main())
    progress = [type(e.event).__name__ for e in events if isinstance(e, JobProgress)]
    assert "Thought" in progress and "Draft" in progress and job.thought and job.status is Status.OK
