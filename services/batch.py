"""Batches: a prompt list sent to Google's batch engine (half price), followed across restarts, saved exactly once.

Durability, in order: the request list and a local record are written atomically before the create call; the remote
name is written the moment the create call answers. A record left without a remote name (the process died while
creating) is matched by display name (= the local batch id) on the next look. Each request's result becomes one
generation whose id is derived from (batch id, request key), so fetching twice, or again after a kill mid-ingest,
saves nothing twice (services/batch_ingest.py, which also removes the batch's files from the server afterwards).
Records live in `<library>/.atelier/batches/`, outside the index, so a rebuild keeps them. Costs and budgets:
services/batch_costs.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable

from services import batch_costs, protocol
from services.batch_api import BatchClient, output_of, state_of, stats_of
from services.batch_ingest import Ingest, delete_files, save_file
from services.batch_store import (
    BatchRecord,
    BatchStore,
    FetchResult,
    default_resolver,
    endpoint_dict,
    generation_id_for,
    new_batch_id,
    title_of,
)
from services.catalog import Catalog
from services.client import RetryPolicy, new_http_client
from services.endpoints import Endpoint
from services.errors import ApiError, InputError, NetworkError
from services.http_pool import client_of
from services.ledger import Ledger
from services.library import Library, pid_alive
from services.prompt_list import PromptList
from services.status import ErrorKind, Status
from services.types import GenerationRequest, SavedImage

log = logging.getLogger(__name__)
INLINE_LIMIT = 20  # requests sent inline; more go through an uploaded JSONL file (image results are large)
Resolver = Callable[[dict], tuple[Endpoint, str | None]]


class BatchService:
    def __init__(
        self,
        catalog: Catalog,
        library: Library,
        *,
        resolver: Resolver = default_resolver,
        http=None,
        min_poll: float | None = None,
        max_poll: float = 600.0,
        inline_limit: int = INLINE_LIMIT,
        retry: RetryPolicy | None = None,
        ledger: Ledger | None = None,
    ):
        """`ledger`: where each saved result's cost is counted, and whose budgets refuse a submit."""
        self.catalog = catalog
        self.ledger = ledger
        self.library = library
        self.store = BatchStore(library.root)
        self.resolver = resolver
        self.http = http
        env_poll = os.environ.get("ATELIER_BATCH_MIN_POLL")
        self.min_poll = min_poll if min_poll is not None else float(env_poll or 30.0)
        self.max_poll = max(max_poll, self.min_poll)
        self.inline_limit = inline_limit
        self.retry = retry
        self._creating: set[str] = set()  # batches whose create call this process is making now

    def _client(self, record: BatchRecord, http=None) -> BatchClient:
        endpoint, key = self.resolver(record.endpoint)
        return BatchClient(endpoint, key, http=http or client_of(self.http, endpoint), timeout=120.0, retry=self.retry)

    # --- submitting ----------------------------------------------------------------------------------------

    def plan(self, prompts: PromptList, endpoint: Endpoint) -> list[tuple[BatchRecord, list[dict]]]:
        """One batch per model (the batch call is per model), each with its keyed requests. Nothing is sent."""
        prompts.raise_for_errors()
        plans = []
        for model_id in prompts.models():
            model = self.catalog.resolve(model_id)
            if model.protocol != "generateContent":
                raise InputError(
                    f"{model_id} is an Imagen model (:predict), which has no batch mode; run the list locally "
                    "instead (batch submit FILE --local), at the standard price."
                )
            batch_id = new_batch_id()
            rows = []
            for row in prompts.rows:
                if row.request.model != model_id:
                    continue
                for _ in range(row.request.count):
                    key = f"r{len(rows) + 1:06d}"
                    r = row.request
                    rows.append(
                        {"key": key, "line": row.line, "prompt": r.prompt, "model": r.model,
                         "aspect_ratio": r.aspect_ratio, "size": r.size}
                    )  # fmt: skip
            subset = PromptList([row for row in prompts.rows if row.request.model == model_id])
            cost = 0.0 if endpoint.name == "demo" else subset.estimated_cost()
            record = BatchRecord(
                batch_id, model_id, endpoint_dict(endpoint), time.time(), title_of([r["prompt"] for r in rows]),
                requests=len(rows),
                images_expected=subset.images_expected, estimated_cost_usd=cost, pending=len(rows),
            )  # fmt: skip
            plans.append((record, rows))
        return plans

    def _wire_request(self, row: dict) -> dict:
        request = GenerationRequest(row["prompt"], row["model"], 1, row["aspect_ratio"], row["size"])
        return protocol.generate_content_body(request, self.catalog.resolve(row["model"]))

    async def submit(self, record: BatchRecord, rows: list[dict]) -> BatchRecord:
        """Sends one planned batch. The record is on disk before the create call and names the remote batch as soon
        as it answers. ApiError(kind="unsupported") when the endpoint has no batch mode; BudgetError (nothing
        written, nothing sent) when its estimate would cross a budget."""
        await asyncio.to_thread(batch_costs.check_budget, self.ledger, [record])
        await asyncio.to_thread(self.store.save_requests, record.batch_id, rows)
        await asyncio.to_thread(self.store.save, record)
        self._creating.add(record.batch_id)
        try:
            return await self._send_batch(record, rows)
        finally:
            self._creating.discard(record.batch_id)

    async def _send_batch(self, record: BatchRecord, rows: list[dict]) -> BatchRecord:
        async with self._client(record) as client:
            try:
                wire = [{"key": r["key"], "request": self._wire_request(r)} for r in rows]
                if len(rows) > self.inline_limit:
                    lines = "".join(json.dumps(w, ensure_ascii=False) + "\n" for w in wire).encode()
                    record.input_file = await client.upload(lines, f"{record.batch_id}-input")
                    await asyncio.to_thread(self.store.save, record)
                    op = await self._create(client, record, file_name=record.input_file)
                else:
                    inline = [{"request": w["request"], "metadata": {"key": w["key"]}} for w in wire]
                    op = await self._create(client, record, requests=inline)
            except NetworkError as error:
                if error.nothing_sent:
                    await asyncio.to_thread(self.store.forget, record.batch_id)
                raise
            except ApiError as error:
                if error.http_status in (404, 405, 501) or error.kind == ErrorKind.UNSUPPORTED:
                    await asyncio.to_thread(self.store.forget, record.batch_id)
                    raise ApiError(
                        f"{client.endpoint.label} has no batch mode for {record.model} (it answered HTTP "
                        f"{error.http_status or '-'}); nothing was charged. Run the list locally instead "
                        "(batch submit FILE --local) at the standard price.",
                        http_status=error.http_status, status=error.status, kind=ErrorKind.UNSUPPORTED,
                    ) from None  # fmt: skip
                record.state, record.error = "failed", str(error)
                await asyncio.to_thread(self.store.save, record)
                raise
        self._apply(record, op)
        await asyncio.to_thread(self.store.save, record)
        return record

    async def _create(self, client: BatchClient, record: BatchRecord, **source) -> dict:
        try:
            op = await client.create(record.model, record.batch_id, **source)
        except (ApiError, NetworkError) as error:
            if not error.retryable:
                raise
            found = await client.find(record.batch_id)  # it may have been created before the failure
            if found is None:
                raise
            op = found
        record.remote_name = str(op.get("name") or "")
        await asyncio.to_thread(self.store.save, record)
        return op

    # --- following --------------------------------------------------------------------------------------------

    def _apply(self, record: BatchRecord, op: dict) -> None:
        record.state = state_of(op)
        stats = stats_of(op)
        record.requests = stats["requests"] or record.requests
        record.succeeded, record.failed, record.pending = stats["succeeded"], stats["failed"], stats["pending"]
        if not any(stats.values()):
            record.pending = record.requests
        record.responses_file, _ = output_of(op)
        record.last_polled_at = time.time()
        if record.state in ("failed", "expired") and not record.error:
            error = (op.get("error") or {}).get("message") if isinstance(op.get("error"), dict) else None
            record.error = error or f"The batch {record.state} on the server."

    async def refresh(self, record: BatchRecord, *, force: bool = False, http=None) -> tuple[BatchRecord, dict | None]:
        """Asks the server once, unless it was asked less than min_poll seconds ago (by any process) or, while
        nothing changes, less than its backed-off interval (x1.5 per unchanged answer, up to max_poll)."""
        if record.local_run_died():
            await asyncio.to_thread(self.store.save, record)
        if record.local or (record.finished and record.ingested):
            return record, None
        if not force and time.time() - record.last_polled_at < max(self.min_poll, record.poll_interval):
            return record, None
        async with self._client(record, http) as client:
            if not record.remote_name:
                if record.batch_id in self._creating or (record.pid != os.getpid() and pid_alive(record.pid)):
                    return record, None  # its create call is still on its way
                op = await client.find(record.batch_id)
                if op is None:
                    record.state = "failed"
                    record.error = "Atelier stopped before the server accepted this batch; nothing was charged."
                    record.ingested = True
                    await asyncio.to_thread(self.store.save, record)
                    return record, None
                record.remote_name = str(op.get("name"))
            else:
                op = await client.get(record.remote_name)
        before = (record.state, record.succeeded, record.failed)
        self._apply(record, op)
        unchanged = before == (record.state, record.succeeded, record.failed)
        record.poll_interval = min(max(record.poll_interval, self.min_poll) * 1.5, self.max_poll) if unchanged else 0.0
        await asyncio.to_thread(self.store.save, record)
        return record, op

    async def fetch(
        self, record: BatchRecord, *, wait: bool = False, poll: float | None = None, on_progress=None
    ) -> FetchResult:
        """Polls (with --wait until it ends, backing off from `poll` seconds), then saves every result once."""
        interval = max(poll if poll is not None else self.min_poll, 0.0)
        http = None if self.http is not None else new_http_client()  # one connection pool for polls and download
        try:
            last_poll = record.last_polled_at
            record, op = await self.refresh(record, force=time.time() - last_poll >= interval, http=http)
            delay = interval if poll is not None else max(interval, record.poll_interval)
            while wait and not record.finished:
                await asyncio.sleep(max(delay, 0.01))
                before = (record.state, record.succeeded, record.failed)
                record, op = await self.refresh(record, force=True, http=http)
                changed = before != (record.state, record.succeeded, record.failed)
                delay = interval if changed else min(delay * 1.5, max(self.max_poll, interval))
                if on_progress:
                    on_progress(record)
            if record.finished and not record.ingested and not record.local:
                await self._ingest(record, op, http)
            await self._delete_files(record, http)
        finally:
            if http is not None:
                await http.aclose()
        return await asyncio.to_thread(self.result, record)

    async def cancel(self, record: BatchRecord) -> BatchRecord:
        if record.finished:
            return record
        if record.remote_name:
            async with self._client(record) as client:
                await client.cancel(record.remote_name)
            record, _ = await self.refresh(record, force=True)
            if not record.finished:
                record.state = "cancelled"  # the server is still winding down: it will not run more requests
        else:
            record.state = "cancelled"
        await asyncio.to_thread(self.store.save, record)
        return record

    # --- saving results ---------------------------------------------------------------------------------------

    async def _ingest(self, record: BatchRecord, op: dict | None, http=None) -> None:
        rows = {r["key"]: r for r in await asyncio.to_thread(self.store.requests, record.batch_id)}
        await asyncio.to_thread(self.library.check_writable)
        file_name, inline = output_of(op) if op else (record.responses_file, None)
        if op is None and not file_name and record.remote_name:
            record, op = await self.refresh(record, force=True, http=http)
            file_name, inline = output_of(op) if op else (None, None)
        async with self.store.ingest_lock(record.batch_id):
            stored = await asyncio.to_thread(self.store.load, record.batch_id)
            if stored.ingested:  # another process saved it while we waited (and may have deleted its files)
                record.ingested, record.files_deleted = True, stored.files_deleted
                return
            ingest = Ingest(self.library, self.catalog, self.ledger, record, rows)
            try:
                if inline is not None:
                    for i, item in enumerate(inline):
                        key = str((item.get("metadata") or {}).get("key") or f"r{i + 1:06d}")
                        await asyncio.to_thread(ingest.save, key, item)
                elif file_name:
                    await save_file(ingest, lambda: self._client(record, http), file_name)
            finally:
                await asyncio.to_thread(ingest.close)
            record.ingested = True
            await asyncio.to_thread(self.store.save, record)

    async def _delete_files(self, record: BatchRecord, http=None) -> None:
        """Once every result is saved, the batch's files on the server go (best effort; retried on the next fetch)."""
        if record.files_deleted or not record.ingested or not (record.input_file or record.responses_file):
            return
        async with self._client(record, http) as client:
            record.files_deleted = await delete_files(client, record)
        if record.files_deleted:
            await asyncio.to_thread(self.store.save, record)

    def result(self, record: BatchRecord) -> FetchResult:
        """The batch's images and failures as the library holds them now (a point lookup per request)."""
        images: list[tuple[SavedImage, str]] = []
        failed = 0
        if record.local:
            ids = record.generation_ids
        else:
            ids = [generation_id_for(record.batch_id, r["key"]) for r in self.store.requests(record.batch_id)]
        for gid in ids:
            entry = self.library.generation(gid)
            if entry is None:
                continue
            images.extend((img, entry.prompt) for img in entry.images)
            if not entry.images and Status(entry.status).failed:
                failed += 1
        if record.saved != len(images) and (record.ingested or record.local):
            record.saved = len(images)
            self.store.save(record)
        return FetchResult(record, images, failed)

    def records(self) -> list[BatchRecord]:
        return self.store.all()

    def load(self, batch_id: str) -> BatchRecord:
        return self.store.load(batch_id)
