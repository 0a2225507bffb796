"""The client against the emulator over loopback HTTP: auth styles, retries and their timing, faults, cancel."""

import asyncio
import time

import pytest

from services.client import GeminiClient, RetryPolicy
from services.emulator import Emulator, Fault, google_error, retry_info
from services.endpoints import chainhub, custom, google
from services.errors import ApiError, NetworkError
from services.status import ErrorKind
from tests.conftest import SleepRecorder, run
from tests.helpers import ends_cancelled, requests_arrive

KEY = "AIzaTestKey-1234567890"


def call(client, model="gemini-3.1-flash-image", prompt="hello", on_retry=None):
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    return client.call_model(model, "generateContent", body, lambda b: b, on_retry=on_retry)


@pytest.mark.parametrize("auth", ["header", "query", "bearer"])
def test_each_auth_style_sends_the_key_its_way(auth):
    with Emulator(require_key=KEY) as server:

        async def go():
            async with GeminiClient(custom(server.url, auth), KEY) as client:
                return await call(client)

        body, attempts = run(go())
        assert attempts == 1 and body["candidates"]
        sent = server.requests[-1]
        assert (sent.headers.get("x-goog-api-key") == KEY) == (auth == "header")
        assert (sent.query.get("key") == [KEY]) == (auth == "query")
        assert (sent.headers.get("authorization") == f"Bearer {KEY}") == (auth == "bearer")


def test_presets():
    assert google().auth == ("header",)
    assert set(chainhub().auth) == {"query", "bearer"}
    assert chainhub().base_url == "https://api.chainhub.tech"
    assert custom("https://proxy.example/v1beta/").base_url == "https://proxy.example"
    assert custom("https://proxy.example/").base_url == "https://proxy.example"


def test_wrong_key_is_not_retried_and_message_is_plain():
    with Emulator(require_key=KEY) as server:

        async def go():
            async with GeminiClient(custom(server.url, "header"), "wrong-key-000") as client:
                await call(client)

        with pytest.raises(ApiError) as info:
            run(go())
        assert info.value.kind == "auth" and len(server.requests) == 1
        assert "wrong-key-000" not in str(info.value)


def test_retry_info_delay_is_honoured_exactly(emulator):
    emulator.script(
        Fault(status=429, body=google_error(429, "RESOURCE_EXHAUSTED", "Rate limit.", [retry_info(2.5)])),
        Fault(
            status=503, body=google_error(503, "UNAVAILABLE", "The model is overloaded."), headers={"Retry-After": "3"}
        ),
    )
    sleeper = SleepRecorder()
    seen = []

    async def go():
        async with GeminiClient(custom(emulator.url), None, sleep=sleeper) as client:
            return await call(client, on_retry=lambda a, d, e: seen.append((a, d, e.kind)))

    body, attempts = run(go())
    assert attempts == 3 and body["candidates"]
    assert sleeper.delays == [2.5, 3.0]
    assert seen == [(1, 2.5, "rate_limit"), (2, 3.0, "overloaded")]


def test_retry_waits_for_real_on_the_loop(emulator):
    emulator.script(Fault(status=429, body=google_error(429, "RESOURCE_EXHAUSTED", "slow down", [retry_info(0.3)])))

    async def go():
        async with GeminiClient(custom(emulator.url), None) as client:
            start = time.monotonic()
            await call(client)
            return time.monotonic() - start

    assert run(go()) >= 0.3


def test_backoff_is_exponential_jittered_and_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    for attempt in range(1, 12):
        ceiling = min(60.0, 2 ** (attempt - 1))
        delays = [policy.delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({policy.delay(3, None) for _ in range(20)}) > 1


def test_transient_errors_give_up_after_five_attempts(emulator):
    emulator.script(*[Fault(status=500, body=google_error(500, "INTERNAL", "oops")) for _ in range(6)])
    sleeper = SleepRecorder()

    async def go():
        async with GeminiClient(custom(emulator.url), None, sleep=sleeper) as client:
            await call(client)

    with pytest.raises(ApiError) as info:
        run(go())
    assert info.value.attempts == 5 and len(sleeper.delays) == 4 and len(emulator.requests) == 5


@pytest.mark.parametrize(
    "code,status",
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (400, "FAILED_PRECONDITION"),
    ],
)
def test_client_errors_are_never_retried(emulator, code, status):
    emulator.script(Fault(status=code, body=google_error(code, status, "no")), Fault(status=200, body={}))

    async def go():
        async with GeminiClient(custom(emulator.url), None, sleep=SleepRecorder()) as client:
            await call(client)

    with pytest.raises(ApiError):
        run(go())
    assert len(emulator.requests) == 1


def test_hard_quota_429_is_not_retried(emulator):
    emulator.script(
        Fault(
            status=429,
            body=google_error(
                429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric generate_content_free_tier, limit: 0"
            ),
        )
    )

    async def go():
        async with GeminiClient(custom(emulator.url), None, sleep=SleepRecorder()) as client:
            await call(client)

    with pytest.raises(ApiError) as info:
        run(go())
    assert info.value.kind == "quota" and "waiting will not help" in str(info.value)
    assert len(emulator.requests) == 1


def test_html_from_a_proxy_and_cut_body_then_success(emulator):
    emulator.script(
        Fault(status=502, body="<html><title>Bad gateway</title></html>", content_type="text/html"),
        Fault(status=200, body='{"candidates": [{"content": {"parts": [{"text": "half', cut_after=20),
    )

    async def go():
        async with GeminiClient(custom(emulator.url), None, sleep=SleepRecorder()) as client:
            return await call(client)

    body, attempts = run(go())
    assert attempts == 3 and body["candidates"]


def test_silent_server_times_out_then_retry_succeeds(emulator):
    emulator.script(Fault(hang=True))
    sleeper = SleepRecorder()

    async def go():
        async with GeminiClient(custom(emulator.url), None, timeout=0.5, sleep=sleeper) as client:
            return await call(client)

    body, attempts = run(go())
    assert attempts == 2 and body["candidates"]


def test_silent_server_always_ends_in_network_error(emulator):
    emulator.script(*[Fault(hang=True) for _ in range(3)])

    async def go():
        async with GeminiClient(
            custom(emulator.url), None, timeout=0.3, retry=RetryPolicy(attempts=3, base_delay=0.01)
        ) as client:
            await call(client)

    with pytest.raises(NetworkError) as info:
        run(go())
    assert info.value.kind == ErrorKind.TIMEOUT and "did not answer" in str(info.value)


def test_nothing_listening_is_a_network_error():
    async def go():
        async with GeminiClient(
            custom("http://127.0.0.1:9"), None, retry=RetryPolicy(attempts=2, base_delay=0.01)
        ) as c:
            await call(c)

    with pytest.raises(NetworkError) as info:
        run(go())
    assert info.value.kind == ErrorKind.NETWORK and "Could not reach" in str(info.value)


def test_cancel_in_flight_request(emulator):
    """Cancel ends a request the server never answers at once, not after the client's 60 s timeout."""
    emulator.script(Fault(hang=True))

    async def go():
        async with GeminiClient(custom(emulator.url), None, timeout=60) as client:
            task = asyncio.ensure_future(call(client))
            await requests_arrive(emulator)
            task.cancel()
            await ends_cancelled(task, timeout=10)

    run(go())


def test_cancel_while_waiting_to_retry(emulator):
    """Cancel during the server's 30 s retry delay ends the call, and no second attempt is sent."""
    emulator.script(Fault(status=503, body=google_error(503, "UNAVAILABLE", "busy", [retry_info(30)])))

    async def go():
        retry_waits = asyncio.Event()
        async with GeminiClient(custom(emulator.url), None) as client:
            task = asyncio.ensure_future(call(client, on_retry=lambda *_: retry_waits.set()))
            await asyncio.wait_for(retry_waits.wait(), timeout=10)
            task.cancel()
            await ends_cancelled(task, timeout=10)

    run(go())
    assert len(emulator.requests) == 1


def test_model_discovery_follows_pages():
    with Emulator(page_size=2) as server:

        async def go():
            async with GeminiClient(custom(server.url), None) as client:
                return await client.list_models()

        models = run(go())
        assert len(models) == 9 and len([r for r in server.requests if r.path == "/v1beta/models"]) == 5
