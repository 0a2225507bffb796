"""Batch mode: `models/{id}:batchGenerateContent` with inline requests or a JSONL file, and `batches/{id}` get, list,
cancel and delete.

A job is PENDING for the first half of its turnaround (`Emulator.batch_turnaround`, seconds; scriptable), RUNNING
for the second, then its requests are answered (each as `:generateContent` would: a refused request becomes that
entry's error, the others still succeed) and it is SUCCEEDED. A file job's results are a JSONL file of
`{"key","response"}` / `{"key","error"}` lines; an inline job's come back in `output.inlinedResponses`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from services.emulator import gemini
from services.emulator.faults import ApiFailure, invalid, not_found
from services.emulator.files import rfc3339

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"


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
    results: list[dict] | None = None
    responses_file: str | None = None
    error: dict | None = None


class BatchService:
    def __init__(self):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def create(self, emulator, model_id: str, body: dict) -> dict:
        batch = body.get("batch") if isinstance(body.get("batch"), dict) else body
        source = batch.get("inputConfig") or batch.get("input_config") or {}
        requests: list[tuple[str | None, dict | None]] = []
        if "fileName" in source or "file_name" in source:
            stored = emulator.files.get(str(source.get("fileName") or source.get("file_name")))
            for line in stored.data.decode("utf-8", "replace").splitlines():
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
            self._counter += 1
            job = Job(f"{int(time.time())}{self._counter:04d}", model_id, str(batch.get("displayName") or ""),
                      requests, from_file)  # fmt: skip
            self._jobs[job.id] = job
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
            with self._lock:
                if job.state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                    job.state, job.ended = "BATCH_STATE_CANCELLED", time.time()
            return 200, {}
        if method == "DELETE" and not verb:
            with self._lock:
                self._jobs.pop(job.id, None)
            return 200, {}
        if method == "GET" and not verb:
            return 200, self._operation(emulator, job)
        raise not_found(f"The requested URL {resource} was not found on this server.")

    def _advance(self, emulator, job: Job) -> None:
        with self._lock:
            if job.state not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                return
            elapsed = time.time() - job.created
            if elapsed < emulator.batch_turnaround / 2:
                return
            if elapsed < emulator.batch_turnaround:
                job.state = "BATCH_STATE_RUNNING"
                return
            job.state = "BATCH_STATE_RUNNING"
            job.results = []  # claimed: another poll waits for these results instead of making them again
        results = [self._answer(emulator, job.model, key, request) for key, request in job.requests]
        with self._lock:
            job.results = results
            if all(r is None for r in results):
                job.state = "BATCH_STATE_FAILED"
                job.error = {
                    "code": 400,
                    "message": "The input file has no readable request.",
                    "status": "INVALID_ARGUMENT",
                }
            elif job.state == "BATCH_STATE_RUNNING":
                job.state = "BATCH_STATE_SUCCEEDED"
            job.ended = time.time()
        if job.from_file and job.state == "BATCH_STATE_SUCCEEDED":
            lines = "\n".join(json.dumps(r) for r in results if r is not None) + "\n"
            stored = emulator.files.add(f"batch-{job.id}-results", "application/jsonl", lines.encode())
            job.responses_file = f"files/{stored.id}"

    @staticmethod
    def _answer(emulator, model_id: str, key, request) -> dict | None:
        if request is None:
            return None
        entry: dict = {"key": key} if key is not None else {}
        try:
            if not isinstance(request, dict):
                raise invalid("The request is not a GenerateContentRequest object.")
            model = emulator.model_info(model_id)
            entry["response"] = gemini.answer(emulator, model, request, stream=False).merged()
        except ApiFailure as failure:
            entry["error"] = failure.body["error"]
        return entry

    def _operation(self, emulator, job: Job) -> dict:
        self._advance(emulator, job)
        with self._lock:
            done = job.results is not None and job.state != "BATCH_STATE_RUNNING" or job.state in (
                "BATCH_STATE_CANCELLED", "BATCH_STATE_FAILED")  # fmt: skip
            finished = job.results if job.state == "BATCH_STATE_SUCCEEDED" else None
            ok = sum(1 for r in finished or [] if r and "response" in r)
            failed = len(job.requests) - ok if finished is not None else 0
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
                    "pendingRequestCount": str(0 if done else len(job.requests)),
                },
            }
            if job.ended:
                metadata["endTime"] = rfc3339(job.ended)
            operation: dict = {"name": f"batches/{job.id}", "metadata": metadata, "done": bool(done)}
            if finished is not None:
                if job.from_file:
                    output = {"@type": OUTPUT_TYPE, "responsesFile": job.responses_file}
                else:
                    inlined = [{"metadata": {"key": r.get("key")}, **{k: v for k, v in r.items() if k != "key"}}
                               if r.get("key") is not None else {k: v for k, v in r.items() if k != "key"}
                               for r in finished]  # fmt: skip
                    output = {"@type": OUTPUT_TYPE, "inlinedResponses": {"inlinedResponses": inlined}}
                metadata["output"] = output
                operation["response"] = output
            if job.error:
                operation["error"] = job.error
        return operation
