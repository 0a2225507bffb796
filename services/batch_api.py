"""HTTP for Google's batch mode and Files API: create, get, list, cancel, delete, resumable upload, streamed download.

Built on GeminiClient, so auth, redaction, error parsing and retries are the same as for single calls. The create
call alone is never retried blindly (a retry could start and bill a second batch); BatchService looks the batch up
by its display name instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

from services.client import GeminiClient
from services.errors import ApiError, NetworkError
from services.status import ErrorKind

# Google's state names, and the SDK's renaming of them, onto Atelier's six.
STATES = {
    "BATCH_STATE_UNSPECIFIED": "pending",
    "BATCH_STATE_PENDING": "pending",
    "BATCH_STATE_RUNNING": "running",
    "BATCH_STATE_SUCCEEDED": "succeeded",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
    "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_PAUSED": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
FINISHED = ("succeeded", "failed", "cancelled", "expired")


def batch_fields(operation: dict) -> dict:
    """The batch object whether the server answers an Operation (fields under `metadata`) or the batch itself."""
    meta = operation.get("metadata") if isinstance(operation.get("metadata"), dict) else operation
    return meta if "state" in meta or "batchStats" in meta or "batch_stats" in meta else operation


def state_of(operation: dict) -> str:
    raw = str(batch_fields(operation).get("state") or "BATCH_STATE_PENDING")
    return STATES.get(raw.upper(), "pending")


def stats_of(operation: dict) -> dict:
    stats = batch_fields(operation).get("batchStats") or batch_fields(operation).get("batch_stats") or {}

    def number(*names) -> int:
        for name in names:
            try:
                return int(stats[name])
            except (KeyError, TypeError, ValueError):
                continue
        return 0

    return {
        "requests": number("requestCount", "request_count"),
        "succeeded": number("successfulRequestCount", "successful_request_count"),
        "failed": number("failedRequestCount", "failed_request_count"),
        "pending": number("pendingRequestCount", "pending_request_count"),
    }


def output_of(operation: dict) -> tuple[str | None, list | None]:
    """(responses file name, inline responses) from wherever this server put them."""
    fields = batch_fields(operation)
    for holder in (fields.get("output"), fields.get("dest"), operation.get("response"), fields):
        if not isinstance(holder, dict):
            continue
        file_name = holder.get("responsesFile") or holder.get("responses_file") or holder.get("fileName")
        inline = holder.get("inlinedResponses") or holder.get("inlined_responses")
        if isinstance(inline, dict):
            inline = inline.get("inlinedResponses") or inline.get("inlined_responses")
        if file_name or isinstance(inline, list):
            return file_name, inline if isinstance(inline, list) else None
    return None, None


class BatchClient(GeminiClient):
    def _url(self, path: str) -> str:
        return f"{self.endpoint.base_url}{path}"

    def _network_error(self, exc) -> NetworkError:
        import httpx

        error = super()._network_error(exc)
        error.nothing_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        return error

    async def _send(self, method: str, url: str, *, content: bytes | None = None, headers: dict | None = None):
        """One request; returns (parsed body, response headers). Raises ApiError or NetworkError."""
        import httpx

        auth_headers, params = self._auth()
        if urlsplit(url).netloc != urlsplit(self.endpoint.base_url).netloc:
            auth_headers, params = {}, {}  # the key goes to the endpoint's own host only
        if urlsplit(url).query:  # httpx's params would replace the URL's own query (an upload id)
            params = {**dict(parse_qsl(urlsplit(url).query)), **params}
            url = url.split("?", 1)[0]
        all_headers = {**auth_headers, **(headers or {})}
        if content is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        try:
            async with self._http.stream(
                method, url, content=content, headers=all_headers, params=params, timeout=self._timeouts()
            ) as response:
                raw = await self._read_capped(response)
        except httpx.HTTPError as exc:
            raise self._network_error(exc) from None
        body = await asyncio.to_thread(self._interpret, response, raw or b"{}", lambda b: b, None, None)
        return body, response.headers

    async def _call(self, method: str, path: str, body: dict | None = None, *, retry: bool = True) -> dict:
        content = json.dumps(body).encode() if body is not None else None

        async def once():
            return (await self._send(method, self._url(path), content=content))[0]

        if not retry:
            try:
                return await once()
            except ApiError as error:
                error.message = self.redact(error.message)
                raise
        return (await self._with_retries(once, None))[0]

    async def create(
        self, model: str, display_name: str, *, requests: list | None = None, file_name: str | None = None
    ):
        config = {"fileName": file_name} if file_name else {"requests": {"requests": requests or []}}
        body = {"batch": {"displayName": display_name, "inputConfig": config}}
        return await self._call("POST", f"/v1beta/models/{model}:batchGenerateContent", body, retry=False)

    async def get(self, name: str) -> dict:
        return await self._call("GET", f"/v1beta/{name}")

    async def cancel(self, name: str) -> dict:
        return await self._call("POST", f"/v1beta/{name}:cancel", {})

    async def delete(self, name: str) -> dict:
        return await self._call("DELETE", f"/v1beta/{name}")

    async def list(self, pages: int = 20) -> list[dict]:
        found: list[dict] = []
        token = ""
        for _ in range(pages):
            body = await self._call("GET", "/v1beta/batches?pageSize=100" + (f"&pageToken={token}" if token else ""))
            found.extend(b for b in body.get("operations") or body.get("batches") or [] if isinstance(b, dict))
            token = body.get("nextPageToken") or body.get("next_page_token") or ""
            if not token:
                break
        return found

    async def find(self, display_name: str) -> dict | None:
        """The batch created with this display name, if the server has one (a create whose answer was lost)."""
        for op in await self.list():
            meta = op.get("metadata") if isinstance(op.get("metadata"), dict) else op
            if display_name in (meta.get("displayName"), meta.get("display_name")):
                return op
        return None

    async def upload(self, data: bytes, display_name: str, mime: str = "application/jsonl") -> str:
        """Resumable upload (start, then `upload, finalize`); returns the file's name, `files/...`."""
        start = {
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": mime,
            "Content-Type": "application/json",
        }
        meta = json.dumps({"file": {"displayName": display_name}}).encode()

        async def begin():
            return (await self._send("POST", self._url("/upload/v1beta/files"), content=meta, headers=start))[1]

        headers, _ = await self._with_retries(begin, None)
        target = headers.get("x-goog-upload-url")
        if not target:
            raise ApiError(
                "The endpoint did not offer an upload address for the batch's input file.", kind=ErrorKind.UNSUPPORTED
            )
        finish = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0", "Content-Type": mime}
        body, _ = await self._send("POST", target, content=data, headers=finish)
        name = (body.get("file") or body).get("name")
        if not name:
            raise ApiError("The endpoint accepted the upload but did not name the file.", kind=ErrorKind.BAD_RESPONSE)
        return name

    async def download_lines(self, file_name: str) -> AsyncIterator[bytes]:
        """The results file, one line at a time, as it arrives: a file of many GB is never held in memory."""
        import httpx

        headers, params = self._auth()
        params["alt"] = "media"
        url = self._url(f"/download/v1beta/{file_name}:download")
        try:
            async with self._http.stream(
                "GET", url, headers=headers, params=params, timeout=httpx.Timeout(300.0, connect=15.0)
            ) as response:
                if response.status_code >= 300:
                    raw = await self._read_capped(response)
                    self._interpret(response, raw, lambda b: b, None, None)
                pending = bytearray()
                async for chunk in response.aiter_bytes():
                    start = 0
                    while (end := chunk.find(b"\n", start)) >= 0:
                        pending += chunk[start:end]
                        if pending.strip():
                            yield bytes(pending)
                        pending.clear()
                        start = end + 1
                    pending += chunk[start:]
                if pending.strip():
                    yield bytes(pending)
        except httpx.HTTPError as exc:
            raise self._network_error(exc) from None
