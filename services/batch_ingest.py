"""Saving a finished batch's results in the library, exactly once, then removing its files from the server.

Each request's result becomes one finished generation whose id is derived from (batch id, request key): a result whose
generation is already finished is skipped (without decoding its image), so fetching twice, or again after a kill
mid-ingest, saves nothing twice. A generation is begun (a running row naming this process) before its file is written
and finished after, so a kill in between is recovered like any interrupted job and finished on the next fetch.

The pipeline for a results file: the event loop downloads lines (at most PREFETCH ahead of the one being saved: one
line can hold 8+ MB of base64); a worker thread parses each line while another saves the one before it (file, index
rows, cost), in order; up to two more make the thumbnails behind them. Decoding a PNG for its thumbnail releases the
GIL and is most of a save's time (PNG has no scaled decode), so on two cores the thumbnails cost little wall time. A kill leaves at most some thumbnails unmade, which
the gallery makes when it first shows them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor

from services import batch_costs, protocol
from services.batch_store import BatchRecord, BatchRequest, generation_id_for
from services.catalog import Catalog
from services.errors import ApiError, NetworkError
from services.ledger import Ledger
from services.library import HistoryEntry, Library
from services.status import Status
from services.types import GenerationResult

log = logging.getLogger(__name__)
PREFETCH = 2  # results lines downloaded ahead of the one being saved
KEY_AT_START = re.compile(rb'^\s*\{\s*"key"\s*:\s*"([^"\\]{1,200})"')
THUMBNAIL_WORKERS = min(2, os.cpu_count() or 1)  # a thumbnail (a PNG decoded in full) costs more than the save
UNKNOWN = object()  # the generation has not been looked up yet


def finished(entry: HistoryEntry | None) -> bool:
    return entry is not None and entry.status not in (Status.RUNNING, Status.INTERRUPTED)


class Ingest:
    """One batch's results into one library. Blocking methods: call them from a worker thread. close() waits for the
    thumbnails still being made."""

    def __init__(self, library: Library, catalog: Catalog, ledger: Ledger | None, record: BatchRecord, rows: dict):
        self.library, self.catalog, self.ledger = library, catalog, ledger
        self.record = record
        self.rows = rows  # request key -> the planned request
        self.label = record.endpoint.get("label") or record.endpoint["name"]
        self._thumbnails = ThreadPoolExecutor(THUMBNAIL_WORKERS, thread_name_prefix="batch-thumbnails")
        self._made: list[Future] = []
        self._saved: set[str] = set()  # keys saved by this ingest (a key listed twice is saved once)

    def close(self) -> None:
        self._thumbnails.shutdown(wait=True)
        for future in self._made:
            if future.exception() is not None:  # a missing thumbnail is made again when the gallery shows it
                log.warning("batch %s: a thumbnail was not made: %s", self.record.batch_id, future.exception())

    def read(self, line: bytes) -> tuple | None:
        """One line of a results file (`{"key", "response"}` or `{"key", "error"}`) parsed and its image decoded:
        the arguments of save(), or None for a line saved on an earlier fetch or not JSON."""
        entry = UNKNOWN
        early = KEY_AT_START.match(line[:256])
        if early:
            entry = self.library.generation(generation_id_for(self.record.batch_id, early.group(1).decode()))
            if finished(entry):
                return None  # saved on an earlier fetch: skip without decoding megabytes of base64
        try:
            item = json.loads(line)
        except ValueError:
            log.warning("batch %s: a results line is not JSON; skipped", self.record.batch_id)
            return None
        key = str(item.get("key") or (item.get("metadata") or {}).get("key") or "")
        if not early or early.group(1).decode() != key:
            entry = UNKNOWN
        response = item.get("response")
        parsed = protocol.parse_generate_content(response) if isinstance(response, dict) else None
        return key, item, entry, parsed

    def save(self, key: str, item: dict, entry=UNKNOWN, parsed=None) -> None:
        """One result becomes one finished generation, exactly once."""
        record, row = self.record, self.rows.get(key)
        if row is None:
            log.warning("batch %s: a result for unknown key %r; skipped", record.batch_id, key)
            return
        if key in self._saved:
            return
        self._saved.add(key)
        gid = generation_id_for(record.batch_id, key)
        if entry is UNKNOWN:
            entry = self.library.generation(gid)
        if finished(entry):
            return
        request = BatchRequest(row["prompt"], row["model"], 1, row["aspect_ratio"], row["size"],
                               protocol="generateContent", batch_id=record.batch_id)  # fmt: skip
        created = entry.created_at if entry else time.time()
        if entry is None:
            self.library.begin(request, endpoint=self.label, protocol="generateContent", created_at=created,
                               generation_id=gid)  # fmt: skip
        images = list(entry.images) if entry else []
        response, error = item.get("response"), item.get("error")
        status, reason, text, usage, err = Status.OK, None, "", None, None
        if isinstance(response, dict):
            parsed = parsed or protocol.parse_generate_content(response)
            text, usage = parsed.text, parsed.usage
            if not images:
                for index, image in enumerate(parsed.images[:1]):
                    saved = self.library.save_image(gid, index, image, request=request, endpoint=self.label,
                                                    text=text, created_at=created, thumbnail=False)  # fmt: skip
                    self._made.append(self._thumbnails.submit(self.library.ensure_thumbnail, saved.path, saved.sha256))
                    images.append(saved)
            if not images:
                status = Status.BLOCKED if parsed.blocked_reason else Status.NO_IMAGE
                reason = parsed.blocked_reason or parsed.no_image_reason or "The server returned no image."
        elif not images:
            error = error if isinstance(error, dict) else {}
            status, reason = Status.ERROR, str(error.get("message") or "The batch engine could not run this request.")
            err = {"http_status": error.get("code"), "status": error.get("status"), "message": reason}
        result = GenerationResult(gid, self.catalog.resolve(row["model"]).id, status, images, usage=usage)
        cost = batch_costs.count_result(self.ledger, self.library.root, record, result, row["size"])
        self.library.finish(gid, status=status, reason=reason, text=text, error=err, attempts=1, cost_usd=cost,
                            usage=usage)  # fmt: skip


async def save_file(ingest: Ingest, client_for, file_name: str) -> None:
    """Streams the results file into `ingest`: the next lines download while one is parsed in a worker thread and
    the one before it saved in another; saves stay in order, one at a time. `client_for()`: a BatchClient context
    for the batch's endpoint."""
    lines: asyncio.Queue = asyncio.Queue(maxsize=PREFETCH)
    saving: asyncio.Future | None = None

    async def download() -> None:
        async with client_for() as client:
            async for line in client.download_lines(file_name):
                await lines.put(line)
        await lines.put(None)

    downloading = asyncio.ensure_future(download())
    try:
        while True:
            getting = asyncio.ensure_future(lines.get())
            await asyncio.wait({getting, downloading}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():  # the download ended without its end marker: it failed
                getting.cancel()
                await downloading
                break
            line = getting.result()
            if line is None:
                break
            read = await asyncio.to_thread(ingest.read, line)  # while the previous line is being saved
            if saving is not None:
                await saving
            if read is not None:
                saving = asyncio.ensure_future(asyncio.to_thread(ingest.save, *read))
        if saving is not None:
            await saving
        await downloading
    finally:
        for task in (saving, downloading):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (saving, downloading) if t is not None), return_exceptions=True)


async def delete_files(client, record: BatchRecord) -> bool:
    """Removes the batch's input and results files from the server once they are saved (Google keeps them 48 h and
    counts them against the project's storage). Best effort: a failure is logged and left to the server's expiry.
    True when nothing is left to delete."""
    left = False
    for name in dict.fromkeys(n for n in (record.input_file, record.responses_file) if n):
        try:
            await client.delete(name)
        except ApiError as error:
            if error.http_status != 404:  # already gone is what we wanted
                left = True
                log.warning("batch %s: could not delete %s on the server: %s", record.batch_id, name, error)
        except NetworkError as error:
            left = True
            log.warning("batch %s: could not delete %s on the server: %s", record.batch_id, name, error)
    return not left
