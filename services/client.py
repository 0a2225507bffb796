"""HTTP to a Gemini API endpoint: auth per endpoint, timeouts for minute-long calls, retries with jittered backoff,
and the streamed road (`:streamGenerateContent?alt=sse`) with its fallback to `:generateContent`.

Bodies are serialised and parsed in a worker thread; the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from services import protocol, streaming
from services.endpoints import Endpoint
from services.errors import ApiError, NetworkError, Redactor
from services.status import ErrorKind
from services.streaming import STREAM_SUPPORT, StreamUnsupported
from services.types import ReceivedImage

if TYPE_CHECKING:
    import httpx  # imported on first use: 40 ms that the window's first paint need not wait for

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RESPONSE_BYTES = 300 * 1024 * 1024  # four 4K PNGs in base64 are ~120 MB; anything past this is not an answer
RetryCallback = Callable[[int, float, Exception], None]
ThoughtCallback = Callable[[str], None]
DraftCallback = Callable[[ReceivedImage], None]


@dataclass(frozen=True)
class RetryPolicy:
    """The SDK's policy: 5 attempts, exponential from 1 s capped at 60 s, jittered; a server-given delay wins."""

    attempts: int = 5
    base_delay: float = field(default_factory=lambda: float(os.environ.get("ATELIER_RETRY_BASE_DELAY", "1.0")))
    max_delay: float = 60.0
    max_server_delay: float = 300.0  # a longer wait than this is reported, not slept through

    def delay(self, attempt: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return server_delay
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class GeminiClient:
    def __init__(
        self,
        endpoint: Endpoint,
        key: str | None,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.endpoint = endpoint
        self._key = key
        self.redact = Redactor()
        self.redact.add(key)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._own_http = http is None
        self._http = http or new_http_client()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> GeminiClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # --- requests --------------------------------------------------------------------------------------------

    def _auth(self) -> tuple[dict, dict]:
        headers: dict[str, str] = {}
        params: dict[str, str] = {}
        if self._key:
            for style in self.endpoint.auth:
                if style == "header":
                    headers["x-goog-api-key"] = self._key
                elif style == "query":
                    params["key"] = self._key
                elif style == "bearer":
                    headers["Authorization"] = f"Bearer {self._key}"
        return headers, params

    def model_url(self, model_id: str, method: str) -> str:
        return f"{self.endpoint.base_url}/v1beta/models/{quote(model_id, safe='.-_')}:{method}"

    async def call_model(
        self,
        model_id: str,
        method: str,
        body: dict,
        parse: Callable[[dict], T],
        *,
        replacement: str | None = None,
        retired: bool = False,
        on_retry: RetryCallback | None = None,
    ) -> tuple[T, int]:
        """POSTs to `models/{model}:{method}`; returns (parse(body), attempts). Raises ApiError or NetworkError."""
        content = await asyncio.to_thread(lambda: json.dumps(body).encode("utf-8"))
        url = self.model_url(model_id, method)
        about = (model_id, replacement, retired)
        return await self._with_retries(lambda: self._post_once(url, content, parse, about), on_retry)

    async def stream_content(
        self,
        model_id: str,
        body: dict,
        plain_body: dict,
        parse: Callable[[dict], T],
        *,
        replacement: str | None = None,
        retired: bool = False,
        on_retry: RetryCallback | None = None,
        on_thought: ThoughtCallback | None = None,
        on_draft: DraftCallback | None = None,
    ) -> tuple[T, int]:
        """`:streamGenerateContent?alt=sse` with `body`: thought summaries and interim images go to `on_thought` and
        `on_draft` as they arrive; returns (parse(merged response), attempts). Where the endpoint has no such
        method (404/405), `plain_body` goes to `:generateContent`, and the endpoint is remembered as not streaming.
        A stream cut mid-way is a transient failure: retried like any other."""
        base = self.endpoint.base_url

        def plain() -> Awaitable[tuple[T, int]]:
            return self.call_model(
                model_id,
                "generateContent",
                plain_body,
                parse,
                replacement=replacement,
                retired=retired,
                on_retry=on_retry,
            )

        if STREAM_SUPPORT.streams(base) is False:
            return await plain()
        content = await asyncio.to_thread(lambda: json.dumps(body).encode("utf-8"))
        url = self.model_url(model_id, "streamGenerateContent")
        about = (model_id, replacement, retired)
        callbacks = (on_thought or (lambda text: None), on_draft or (lambda image: None))
        try:
            result = await self._with_retries(
                lambda: self._stream_once(url, content, parse, about, callbacks), on_retry
            )
        except StreamUnsupported as unsupported:
            earlier = unsupported.attempts
        else:
            STREAM_SUPPORT.remember(base, True)
            return result
        try:
            parsed, attempts = await plain()
        except ApiError as error:
            error.attempts += earlier
            if error.http_status not in (404, 405):  # the plain method exists: only streaming is missing
                STREAM_SUPPORT.remember(base, False)
            raise
        STREAM_SUPPORT.remember(base, False)
        log.info("%s does not stream; asking :generateContent from now on", base)
        return parsed, attempts + earlier

    async def list_models(self) -> list[dict]:
        """Every page of GET /v1beta/models."""
        models: list[dict] = []
        token = None
        for _page in range(50):
            params = {"pageSize": "1000"}
            if token:
                params["pageToken"] = token
            body, _ = await self._with_retries(lambda p=params: self._get_once("/v1beta/models", p), None)
            models.extend(m for m in body.get("models") or [] if isinstance(m, dict))
            token = body.get("nextPageToken") or body.get("next_page_token")
            if not token:
                break
        return models

    async def _with_retries(self, once: Callable[[], Awaitable[T]], on_retry: RetryCallback | None) -> tuple[T, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await once(), attempt
            except StreamUnsupported as unsupported:
                unsupported.attempts = attempt - 1
                raise
            except (ApiError, NetworkError) as error:
                error.message = self.redact(error.message)
                if not error.retryable or attempt >= self.retry.attempts:
                    error.attempts = attempt
                    raise
                if error.retry_after is not None and error.retry_after > self.retry.max_server_delay:
                    error.attempts = attempt
                    raise
                delay = self.retry.delay(attempt, error.retry_after)
                log.info("attempt %d failed (%s); retrying in %.1f s", attempt, error.message, delay)
                if on_retry:
                    on_retry(attempt, delay, error)
                await self._sleep(delay)

    async def _post_once(self, url: str, content: bytes, parse, about: tuple):
        import httpx

        headers, params = self._auth()
        headers["Content-Type"] = "application/json"
        try:
            async with self._http.stream(
                "POST", url, content=content, headers=headers, params=params, timeout=self._timeouts()
            ) as response:
                raw = await self._read_capped(response)
        except httpx.HTTPError as exc:
            raise self._network_error(exc) from None
        return await asyncio.to_thread(self._interpret, response, raw, parse, *about)

    async def _stream_once(self, url: str, content: bytes, parse, about: tuple, callbacks: tuple):
        import httpx

        headers, params = self._auth()
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "text/event-stream"
        try:
            async with self._http.stream(
                "POST", url, content=content, headers=headers, params={**params, "alt": "sse"}, timeout=self._timeouts()
            ) as response:
                if response.status_code in (404, 405):
                    await self._read_capped(response)  # read, so the connection goes back to the pool cleanly
                    raise StreamUnsupported()
                content_type = response.headers.get("content-type", "")
                if response.status_code == 200 and "text/event-stream" in content_type:
                    merged = await self._read_events(response, callbacks)
                    return await asyncio.to_thread(parse, merged)
                raw = await self._read_capped(response)
        except httpx.HTTPError as exc:
            raise self._network_error(exc) from None
        return await asyncio.to_thread(self._interpret, response, raw, parse, *about, whole_stream=True)

    async def _read_events(self, response: httpx.Response, callbacks: tuple) -> dict:
        """The merged response of an SSE stream. Each event is read in a worker thread (one can be 20 MB); the
        loop only collects chunks. Thoughts and drafts are handed on, on the loop, as their event arrives."""
        on_thought, on_draft = callbacks
        splitter = streaming.EventSplitter()
        merger = streaming.StreamMerger()

        async def take(chunks: list[bytes], last: bool = False) -> None:
            reading = await asyncio.to_thread(streaming.read_event, chunks, last=last)
            if reading is None:
                return
            for text in reading.thoughts:
                on_thought(text)
            for draft in reading.drafts:
                on_draft(draft)
            merger.add(reading.body, reading.model_parts)

        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > MAX_RESPONSE_BYTES:
                raise self._too_big(response)
            for event in splitter.feed(chunk):
                await take(event)
        rest = splitter.finish()
        if rest is not None:
            await take(rest, last=True)
        if not merger.complete:
            raise ApiError(
                "The server's streamed answer ended before it was complete."
                if merger.events
                else "The server's streamed answer was empty or cut off before it was complete.",
                http_status=response.status_code,
                kind=ErrorKind.BAD_RESPONSE,
                retryable=True,
            )
        return merger.body()

    async def _get_once(self, path: str, params: dict) -> dict:
        import httpx

        headers, auth_params = self._auth()
        try:
            response = await self._http.get(
                self.endpoint.base_url + path,
                params={**params, **auth_params},
                headers=headers,
                timeout=httpx.Timeout(30.0, connect=15.0),
            )
        except httpx.HTTPError as exc:
            raise self._network_error(exc) from None
        return await asyncio.to_thread(self._interpret, response, response.content, lambda b: b)

    def _timeouts(self) -> httpx.Timeout:
        import httpx

        return httpx.Timeout(self.timeout, connect=min(15.0, self.timeout), write=max(60.0, self.timeout), pool=60.0)

    @staticmethod
    async def _read_capped(response: httpx.Response) -> list[bytes]:
        """The body's chunks, joined by the worker that reads them (joining a 27 MB body took ~24 ms of the loop)."""
        chunks = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > MAX_RESPONSE_BYTES:
                raise GeminiClient._too_big(response)
            chunks.append(chunk)
        return chunks

    @staticmethod
    def _too_big(response: httpx.Response) -> ApiError:
        return ApiError(
            f"The server's answer is larger than {MAX_RESPONSE_BYTES // 2**20} MB; it was not read.",
            http_status=response.status_code,
            kind=ErrorKind.BAD_RESPONSE,
        )

    def _interpret(
        self, response, raw: bytes | list, parse, model_id=None, replacement=None, retired=False, *, whole_stream=False
    ):
        """A whole answer (its bytes, or _read_capped's chunks), read (in a worker thread). `whole_stream`: a stream
        answered in one piece, which may be a JSON array of responses (a server that ignored `alt=sse`)."""
        raw = b"".join(raw) if isinstance(raw, list) else raw
        content_type = response.headers.get("content-type", "")
        about = dict(model_id=model_id, replacement=replacement, retired=retired)
        if response.status_code >= 400 or response.status_code < 200:
            retry_after = response.headers.get("retry-after")
            raise protocol.error_from_response(response.status_code, raw, content_type, retry_after, **about)
        if whole_stream and raw.lstrip()[:1] == b"[":
            try:
                values = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                values = None
            if isinstance(values, list):
                return parse(streaming.merge_array(values))
        body = protocol.decode_json(raw, response.status_code, content_type)
        if isinstance(body.get("error"), dict):
            code = int(body["error"].get("code") or 500)
            raise protocol.error_from_response(code, raw, content_type, None, **about)
        return parse(body)

    def _network_error(self, exc: httpx.HTTPError) -> NetworkError:
        import httpx

        host = self.endpoint.base_url.split("://", 1)[-1]
        if isinstance(exc, httpx.TimeoutException):
            if isinstance(exc, httpx.ConnectTimeout):
                return NetworkError(f"Could not connect to {host} in time (are you offline?).", kind=ErrorKind.TIMEOUT)
            return NetworkError(
                f"{host} did not answer within {self.timeout:.0f} s (the timeout can be raised in Settings).",
                kind=ErrorKind.TIMEOUT,
            )
        if isinstance(exc, httpx.ConnectError):
            return NetworkError(f"Could not reach {host}: you may be offline, or the address is wrong.")
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return NetworkError(f"The connection to {host} was cut before the answer was complete.")
        return NetworkError(self.redact(f"Network problem talking to {host}: {type(exc).__name__}."))


def new_http_client(max_connections: int = 16) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=8),
        follow_redirects=False,
        headers={"User-Agent": "Atelier/0.1 (+httpx)"},
    )
