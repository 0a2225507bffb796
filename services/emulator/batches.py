"""Batch mode: `models/{id}:batchGenerateContent` with inline requests or a JSONL file, and `batches/{id}` get, list,
cancel and delete.

A job is PENDING for the first half of its turnaround (`Emulator.batch_turnaround`, seconds; None: until
`Emulator.complete()`), RUNNING for the second (its counts moving at an even pace), then its requests are answered (each as `:generateContent` would: a
refused request, or one whose prompt says `#fail`, becomes that entry's error, the others still succeed) and it is
SUCCEEDED. `Emulator.expire()` ends a job as Google does after 48 hours: EXPIRED, no results. A file job's results are
a JSONL file of `{"key","response"}` / `{"key","error"}` lines; an inline job's come back in
`output.inlinedResponses`. With a folder (`Emulator.keep_batches_in`), jobs and files are kept there too, so an
emulator started by one process serves the batches another one created.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.emulator import gemini
from services.emulator.faults import ApiFailure, invalid, not_found
from services.emulator.files import rfc3339, write_atomically

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
UNFINISHED = ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")
FAIL_WORD = "#fail"


@dataclass
class Job:
    id: str
    model: str
    display_name: str
    requests: list[tuple[str | None, dict | None]]  # (key, request); None: a line that could not be read
    from_file: bool
    created: float = field(default_factory=time.time)
    state: str = "BATCH_STATE_PENDING"
    ended: float | None = None
    claimed: bool = False  # being answered (by a control, or by a background thread after a poll)
    succeeded: int = 0
    results: list[dict] | None = None  # an inline job's answers; a file job's are in its responses file
    responses_file: str | None = None
    error: dict | None = None


class BatchService:
    def __init__(self):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.directory: Path | None = None

    def keep_in(self, directory: Path) -> None:
        """Keeps every job in `directory/batches` from now on, and serves the jobs already there."""
        folder = Path(directory) / "batches"
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self.directory = folder
            for path in folder.glob("*.json"):
                try:
                    saved = json.loads(path.read_text(encoding="utf-8"))
                    saved["requests"] = [tuple(pair) for pair in saved["requests"]]
                    if saved["state"] in UNFINISHED:
                        saved["claimed"] = False  # its answering stopped with the process that began it
                    self._jobs.setdefault(saved["id"], Job(**saved))
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # a half-written or foreign file is not a job
            for job in self._jobs.values():
                self._save(job)

    def _save(self, job: Job) -> None:
        """Call with the lock held."""
        if self.directory is not None:
            write_atomically(self.directory / f"{job.id}.json", json.dumps(asdict(job)).encode())

    def create(self, emulator, model_id: str, body: dict) -> dict:
        batch = body.get("batch") if isinstance(body.get("batch"), dict) else body
        source = batch.get("inputConfig") or batch.get("input_config") or {}
        requests: list[tuple[str | None, dict | None]] = []
        if "fileName" in source or "file_name" in source:
            stored = emulator.files.get(str(source.get("fileName") or source.get("file_name")))
            for line in emulator.files.path(stored).read_bytes().decode("utf-8", "replace").splitlines():
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    requests.append((entry.get("key"), entry["request"]))
                except (ValueError, KeyError, AttributeError):
                    requests.append((None, None))
            from_file = True
        else:
            inline = (source.get("requests") or {}).get("requests")
            if not isinstance(inline, list) or not inline:
                raise invalid("* batch.input_config: either requests or file_name must be given.")
            for entry in inline:
                metadata = entry.get("metadata") or {}
                requests.append((metadata.get("key"), entry.get("request")))
            from_file = False
        with self._lock:
            job_id = (
                f"{int(time.time())}{int.from_bytes(os.urandom(3)):08d}"  # unique across processes sharing a folder
            )
            job = Job(job_id, model_id, str(batch.get("displayName") or ""), requests, from_file)
            self._jobs[job.id] = job
            self._save(job)
        return self._operation(emulator, job)

    def route(self, emulator, method: str, resource: str, query: dict):
        if resource == "batches" and method == "GET":
            with self._lock:
                jobs = sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)
            size = int((query.get("pageSize") or ["50"])[0] or 50)
            start = int((query.get("pageToken") or ["0"])[0] or 0)
            body: dict = {"operations": [self._operation(emulator, j) for j in jobs[start : start + size]]}
            if start + size < len(jobs):
                body["nextPageToken"] = str(start + size)
            return 200, body
        name, _, verb = resource.removeprefix("batches/").partition(":")
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise not_found(f"Batch batches/{name} was not found.")
        if method == "POST" and verb == "cancel":
            self._end(job, "BATCH_STATE_CANCELLED")
            return 200, {}
        if method == "DELETE" and not verb:
            with self._lock:
                self._jobs.pop(job.id, None)
                if self.directory is not None:
                    (self.directory / f"{job.id}.json").unlink(missing_ok=True)
            return 200, {}
        if method == "GET" and not verb:
            return 200, self._operation(emulator, job)
        raise not_found(f"The requested URL {resource} was not found on this server.")

    # --- the controls tests and the demo use ----------------------------------------------------------------------

    def complete(self, emulator, name: str | None = None) -> None:
        """Answers the named job (or every unfinished one) now, whatever its turnaround."""
        for job in self._matching(name):
            self._advance(emulator, job, due=True)

    def expire(self, name: str | None = None) -> None:
        """Ends the named job (or every unfinished one) as Google does after 48 hours: EXPIRED, no results."""
        for job in self._matching(name):
            self._end(job, "BATCH_STATE_EXPIRED")

    def _matching(self, name: str | None) -> list[Job]:
        wanted = None if name is None else name.removeprefix("batches/")
        with self._lock:
            return [j for j in self._jobs.values() if j.state in UNFINISHED and wanted in (None, j.id)]

    def _end(self, job: Job, state: str) -> None:
        with self._lock:
            if job.state in UNFINISHED:
                job.state, job.ended = state, time.time()
                self._save(job)

    # --- running a job ---------------------------------------------------------------------------------------------

    def _advance(self, emulator, job: Job, due: bool = False) -> None:
        with self._lock:
            if job.state not in UNFINISHED or job.claimed:
                return
            turnaround = emulator.batch_turnaround
            elapsed = time.time() - job.created
            if not due and (turnaround is None or elapsed < turnaround / 2):
                return
            job.state = "BATCH_STATE_RUNNING"
            if not due and elapsed < turnaround:
                self._save(job)
                return
            job.claimed = True  # another look waits for these answers instead of making them again
        if due or not turnaround:  # a control, or no turnaround: answered before this call returns
            self._run(emulator, job)
        else:  # a look found it due: answered in the background (a big batch takes minutes to draw)
            threading.Thread(target=self._run, args=(emulator, job), name=f"batch-{job.id}", daemon=True).start()

    def _run(self, emulator, job: Job) -> None:
        """Answers every request; a file job's answers are written to disk line by line, never held together."""
        succeeded = readable = 0
        inline: list[dict] = []
        spool = emulator.files.spool() if job.from_file else None
        try:
            with open(spool, "w", encoding="utf-8") if spool else contextlib.nullcontext() as out:
                for key, request in job.requests:
                    if not emulator.wait(0):
                        return  # the emulator is stopping
                    entry = self._answer(emulator, job.model, key, request)
                    if entry is None:
                        continue
                    readable, succeeded = readable + 1, succeeded + ("response" in entry)
                    if out is not None:
                        out.write(json.dumps(entry) + "\n")
                    else:
                        inline.append(entry)
        except OSError:  # its folder went with a stopped emulator
            return
        with self._lock:
            job.succeeded = succeeded
            if not readable:
                job.state = "BATCH_STATE_FAILED"
                job.error = {
                    "code": 400,
                    "message": "The input file has no readable request.",
                    "status": "INVALID_ARGUMENT",
                }
            elif job.state == "BATCH_STATE_RUNNING":  # not cancelled or expired meanwhile
                job.state = "BATCH_STATE_SUCCEEDED"
            if job.state == "BATCH_STATE_SUCCEEDED" and spool is not None:
                stored = emulator.files.add_written(f"batch-{job.id}-results", "application/jsonl", spool)
                job.responses_file = f"files/{stored.id}"
            elif job.state == "BATCH_STATE_SUCCEEDED":
                job.results = inline
            job.ended = time.time()
            self._save(job)
        if spool is not None:
            spool.unlink(missing_ok=True)  # moved into the store when it succeeded

    @staticmethod
    def _answer(emulator, model_id: str, key, request) -> dict | None:
        if request is None:
            return None
        entry: dict = {"key": key} if key is not None else {}
        try:
            if not isinstance(request, dict):
                raise invalid("The request is not a GenerateContentRequest object.")
            if FAIL_WORD in json.dumps(request.get("contents") or []):
                raise invalid(f"The request was refused ({FAIL_WORD}).")
            model = emulator.model_info(model_id)
            entry["response"] = gemini.answer(emulator, model, request, stream=False).merged()
        except ApiFailure as failure:
            entry["error"] = failure.body["error"]
        return entry

    @staticmethod
    def _progress(emulator, job: Job) -> tuple[int, int]:
        """(succeeded, failed) so far while RUNNING: requests finish at an even pace over the second half of the
        turnaround, as Google's batchStats move while a batch runs. Without a turnaround: none until complete()."""
        turnaround = emulator.batch_turnaround
        if not turnaround:
            return 0, 0
        elapsed = time.time() - job.created - turnaround / 2
        done = job.requests[: int(len(job.requests) * min(max(elapsed / (turnaround / 2), 0.0), 1.0))]
        failed = sum(
            not isinstance(request, dict) or FAIL_WORD in json.dumps(request.get("contents") or [])
            for _, request in done
        )
        return len(done) - failed, failed

    def _operation(self, emulator, job: Job) -> dict:
        self._advance(emulator, job)
        with self._lock:
            done = job.state not in UNFINISHED
            finished = job.state == "BATCH_STATE_SUCCEEDED"
            ok = job.succeeded if finished else 0
            failed = len(job.requests) - ok if finished else 0
            if job.state == "BATCH_STATE_RUNNING":
                ok, failed = self._progress(emulator, job)
            metadata = {
                "@type": BATCH_TYPE,
                "name": f"batches/{job.id}",
                "model": f"models/{job.model}",
                "displayName": job.display_name,
                "createTime": rfc3339(job.created),
                "updateTime": rfc3339(job.ended or time.time()),
                "state": job.state,
                "batchStats": {
                    "requestCount": str(len(job.requests)),
                    "successfulRequestCount": str(ok),
                    "failedRequestCount": str(failed),
                    "pendingRequestCount": str(0 if done else len(job.requests) - ok - failed),
                },
            }
            if job.ended:
                metadata["endTime"] = rfc3339(job.ended)
            operation: dict = {"name": f"batches/{job.id}", "metadata": metadata, "done": bool(done)}
            if finished:
                if job.from_file:
                    output = {"@type": OUTPUT_TYPE, "responsesFile": job.responses_file}
                else:
                    inlined = [{"metadata": {"key": r.get("key")}, **{k: v for k, v in r.items() if k != "key"}}
                               if r.get("key") is not None else {k: v for k, v in r.items() if k != "key"}
                               for r in job.results or []]  # fmt: skip
                    output = {"@type": OUTPUT_TYPE, "inlinedResponses": {"inlinedResponses": inlined}}
                metadata["output"] = output
                operation["response"] = output
            if job.error:
                operation["error"] = job.error
        return operation
