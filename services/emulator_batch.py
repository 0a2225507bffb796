"""The emulator's batch mode and Files API, on disk so that results of many GB never sit in memory.

Entry point: `handle(emulator, method, path, query, headers, body_bytes)` -> (status, headers, body) or None when the
path is not a batch or file path; `send(handler, ...)` writes the answer (a Path body is streamed from disk).

Turnaround is scriptable: `configure(emulator, seconds=S, directory=D)`. seconds=0 runs a batch as it is created,
seconds=S completes it at the first look S seconds after creation, None leaves it pending until `complete()`.
`expire()` and `cancel` end it without results. A prompt containing `#fail` gives that request an error line.
Each request's answer is the emulator's own generate_content, so pictures and usage match the online calls.
State lives in a folder (one JSON per batch, one file per upload or result), so a demo endpoint started by one
command-line run serves the batches another run created.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"
TERMINAL = ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED")


@dataclass
class BatchState:
    directory: Path
    seconds: float | None = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    running: set = field(default_factory=set)  # batches being answered by a background thread

    def path(self, kind: str, ident: str) -> Path:
        folder = self.directory / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / ident


def state_of(emulator) -> BatchState:
    state = getattr(emulator, "_batch_state", None)
    if state is None:
        folder = tempfile.mkdtemp(prefix="atelier-emulator-batches-")
        state = BatchState(Path(folder))
        emulator._batch_state = state
        weakref.finalize(emulator, shutil.rmtree, folder, ignore_errors=True)  # results can be hundreds of MB
    return state


def configure(emulator, *, seconds: float | None = 0.0, directory: str | Path | None = None) -> BatchState:
    state = state_of(emulator)
    state.seconds = seconds
    if directory is not None:
        state.directory = Path(directory)
        state.directory.mkdir(parents=True, exist_ok=True)
    return state


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(code: int, status: str, message: str) -> tuple[int, dict, bytes]:
    return code, {}, json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


def _json(body: dict, status: int = 200, headers: dict | None = None) -> tuple[int, dict, bytes]:
    return status, headers or {}, json.dumps(body).encode()


# --- storage -------------------------------------------------------------------------------------------------


def _load(state: BatchState, ident: str) -> dict | None:
    try:
        return json.loads(state.path("batches", f"{ident}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _store(state: BatchState, batch: dict) -> None:
    target = state.path("batches", f"{batch['id']}.json")
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(batch), encoding="utf-8")
    tmp.replace(target)


def _file_meta(state: BatchState, ident: str) -> dict | None:
    try:
        return json.loads(state.path("files", f"{ident}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _new_file(state: BatchState, display_name: str, mime: str) -> tuple[dict, Path]:
    ident = uuid.uuid4().hex[:16]
    meta = {
        "name": f"files/{ident}",
        "displayName": display_name,
        "mimeType": mime,
        "sizeBytes": "0",
        "createTime": _now(),
        "state": "ACTIVE",
    }
    return meta, state.path("files", ident)


def _save_meta(state: BatchState, meta: dict, data_path: Path) -> dict:
    meta["sizeBytes"] = str(data_path.stat().st_size)
    state.path("files", meta["name"].split("/", 1)[1] + ".json").write_text(json.dumps(meta), encoding="utf-8")
    return meta


# --- the batch engine ----------------------------------------------------------------------------------------


def _operation(batch: dict) -> dict:
    metadata = {
        "@type": BATCH_TYPE,
        "name": f"batches/{batch['id']}",
        "model": f"models/{batch['model']}",
        "displayName": batch["displayName"],
        "state": batch["state"],
        "createTime": batch["createTime"],
        "updateTime": batch["updateTime"],
        "batchStats": batch["stats"],
    }
    if batch.get("endTime"):
        metadata["endTime"] = batch["endTime"]
    if batch.get("output"):
        metadata["output"] = batch["output"]
    op = {"name": f"batches/{batch['id']}", "metadata": metadata, "done": batch["state"] in TERMINAL}
    if batch.get("output"):
        op["response"] = {"@type": BATCH_TYPE.replace("GenerateContentBatch", "GenerateContentBatchOutput")}
        op["response"].update(batch["output"])
    return op


def _requests(state: BatchState, batch: dict):
    """(key, request) pairs of the batch's input, read line by line from an uploaded file."""
    source = batch["input"]
    if "requests" in source:
        for i, item in enumerate(source["requests"]):
            yield str((item.get("metadata") or {}).get("key", i)), item.get("request") or {}
        return
    ident = source["fileName"].split("/", 1)[1]
    with open(state.path("files", ident), encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            if line.strip():
                item = json.loads(line)
                yield str(item.get("key", i)), item.get("request") or {}


def _answer(emulator, model: str, request: dict) -> tuple[dict | None, dict | None]:
    """(response, None) or (None, error) for one request, as the online endpoint would answer it."""
    words = json.dumps(request.get("contents") or [])
    if "#fail" in words:
        return None, {"code": 400, "status": "INVALID_ARGUMENT", "message": "The request was refused (#fail)."}
    status, body = emulator.generate_content(model, request)
    if status != 200:
        return None, body.get("error") or {"code": status, "message": "failed"}
    return body, None


def run_batch(emulator, state: BatchState, batch: dict) -> dict:
    """Answers every request; file input gets a results file, written line by line."""
    stats = batch["stats"]
    done = failed = 0
    if "fileName" in batch["input"]:
        meta, target = _new_file(state, f"batch-{batch['id']}-results", "application/jsonl")
        with open(target, "w", encoding="utf-8") as out:
            for key, request in _requests(state, batch):
                response, error = _answer(emulator, batch["model"], request)
                out.write(json.dumps({"key": key, "response": response} if response else {"key": key, "error": error}))
                out.write("\n")
                done, failed = done + (response is not None), failed + (response is None)
        _save_meta(state, meta, target)
        batch["output"] = {"responsesFile": meta["name"]}
    else:
        answers = []
        for key, request in _requests(state, batch):
            response, error = _answer(emulator, batch["model"], request)
            entry = {"response": response} if response else {"error": error}
            entry["metadata"] = {"key": key}
            answers.append(entry)
            done, failed = done + (response is not None), failed + (response is None)
        batch["output"] = {"inlinedResponses": {"inlinedResponses": answers}}
    stats.update(successfulRequestCount=str(done), failedRequestCount=str(failed), pendingRequestCount="0")
    return _finish(batch, "BATCH_STATE_SUCCEEDED")


def _finish(batch: dict, final: str) -> dict:
    batch["state"] = final
    batch["updateTime"] = batch["endTime"] = _now()
    return batch


def _advance(emulator, state: BatchState, batch: dict) -> dict:
    """Pending for the first half of the turnaround, then running; answered by a background thread once it is due
    (a big batch takes minutes to draw, and a look at it must not wait for that)."""
    if batch["state"] in TERMINAL or state.seconds is None:
        return batch
    age = time.time() - batch["created"]
    if batch["state"] == "BATCH_STATE_PENDING" and age >= state.seconds / 2:
        batch["state"], batch["updateTime"] = "BATCH_STATE_RUNNING", _now()
        _store(state, batch)
    if age >= state.seconds and batch["id"] not in state.running:
        state.running.add(batch["id"])
        threading.Thread(target=_run_in_background, args=(emulator, state, dict(batch)), daemon=True).start()
    return batch


def _run_in_background(emulator, state: BatchState, batch: dict) -> None:
    try:
        answered = run_batch(emulator, state, batch)
        with state.lock:
            current = _load(state, batch["id"])
            if current is not None and current["state"] not in TERMINAL:  # not cancelled or expired meanwhile
                _store(state, answered)
    finally:
        state.running.discard(batch["id"])


def _create(emulator, state: BatchState, model: str, body: dict) -> tuple[int, dict, bytes]:
    spec = body.get("batch") if isinstance(body.get("batch"), dict) else body
    config = spec.get("inputConfig") or spec.get("input_config") or {}
    inline = (config.get("requests") or {}).get("requests")
    file_name = config.get("fileName") or config.get("file_name")
    if inline is None and not file_name:
        return _error(400, "INVALID_ARGUMENT", "batch.inputConfig needs requests or fileName.")
    if file_name and _file_meta(state, file_name.split("/", 1)[-1]) is None:
        return _error(404, "NOT_FOUND", f"{file_name} does not exist.")
    count = len(inline) if inline is not None else sum(1 for _ in _requests(state, {"input": {"fileName": file_name}}))
    now = _now()
    batch = {
        "id": uuid.uuid4().hex[:20],
        "model": model,
        "displayName": str(spec.get("displayName") or spec.get("display_name") or ""),
        "state": "BATCH_STATE_PENDING",
        "created": time.time(),
        "createTime": now,
        "updateTime": now,
        "input": {"requests": inline} if inline is not None else {"fileName": file_name},
        "stats": {"requestCount": str(count), "pendingRequestCount": str(count)},
    }
    if state.seconds == 0:
        batch = run_batch(emulator, state, batch)
    _store(state, batch)
    return _json(_operation(batch))


def complete(emulator, name: str | None = None) -> None:
    """Runs the named batch (or every unfinished one) now."""
    state = state_of(emulator)
    with state.lock:
        for batch in _all(state):
            if batch["state"] not in TERMINAL and (name is None or name.endswith(batch["id"])):
                _store(state, run_batch(emulator, state, batch))


def expire(emulator, name: str | None = None) -> None:
    """Ends the named batch (or every unfinished one) as Google does after 48 hours: EXPIRED, no results."""
    state = state_of(emulator)
    with state.lock:
        for batch in _all(state):
            if batch["state"] not in TERMINAL and (name is None or name.endswith(batch["id"])):
                _store(state, _finish(batch, "BATCH_STATE_EXPIRED"))


def _all(state: BatchState) -> list[dict]:
    found = [_load(state, p.stem) for p in sorted(state.path("batches", "x").parent.glob("*.json"))]
    return sorted((b for b in found if b), key=lambda b: b["created"], reverse=True)


# --- routing -------------------------------------------------------------------------------------------------


def handle(emulator, method: str, path: str, query: dict, headers: dict, body_bytes: bytes):
    """The answer for a batch or Files API path, or None for any other path."""
    if not (
        path.startswith(("/upload/v1beta/files", "/download/v1beta/files", "/v1beta/files", "/v1beta/batches"))
        or path.endswith(":batchGenerateContent")
    ):
        return None
    denied = emulator._check_key(headers, query)
    if denied:
        return denied[0], {}, json.dumps(denied[1]).encode()
    state = state_of(emulator)
    with state.lock:
        return _route(emulator, state, method, path, query, headers, body_bytes)


def _route(emulator, state, method, path, query, headers, body_bytes):
    try:
        body = json.loads(body_bytes) if body_bytes and method == "POST" and "upload_id" not in query else {}
    except ValueError:
        return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if method == "POST" and path == "/upload/v1beta/files":
        command = headers.get("x-goog-upload-command", "")
        if "start" in command:
            upload = uuid.uuid4().hex
            name = ((body or {}).get("file") or {}).get("displayName") or "upload"
            mime = headers.get("x-goog-upload-header-content-type", "application/octet-stream")
            state.path("uploads", upload).write_text(json.dumps({"displayName": name, "mimeType": mime}))
            url = f"{emulator.url}/upload/v1beta/files?upload_id={upload}"
            return _json({}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})
        upload = (query.get("upload_id") or [""])[0]
        pending = state.path("uploads", re.sub(r"[^0-9a-f]", "", upload) or "none")
        if "finalize" not in command or not pending.exists():
            return _error(400, "INVALID_ARGUMENT", "Unknown upload or command.")
        start = json.loads(pending.read_text())
        meta, target = _new_file(state, start["displayName"], start["mimeType"])
        target.write_bytes(body_bytes)
        pending.unlink()
        return _json({"file": _save_meta(state, meta, target)}, headers={"X-Goog-Upload-Status": "final"})
    match = re.fullmatch(r"/(?:download/)?v1beta/files/([0-9a-f]+)(:download)?", path)
    if match:
        ident, download = match.groups()
        meta = _file_meta(state, ident)
        if meta is None:
            return _error(404, "NOT_FOUND", f"files/{ident} does not exist.")
        if method == "DELETE":
            state.path("files", ident).unlink(missing_ok=True)
            state.path("files", f"{ident}.json").unlink(missing_ok=True)
            return _json({})
        if download or (query.get("alt") or [""])[0] == "media":
            return 200, {"Content-Type": meta["mimeType"]}, state.path("files", ident)
        return _json(meta)
    match = re.fullmatch(r"/v1beta/models/([^/:]+):batchGenerateContent", path)
    if match and method == "POST":
        model = match.group(1)
        if emulator.models.get(model) != "generateContent":
            return _error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta, or is not supported for batchGenerateContent.",
            )
        return _create(emulator, state, model, body)
    if path.rstrip("/") == "/v1beta/batches" and method == "GET":
        batches = [_operation(_advance(emulator, state, b)) for b in _all(state)]
        return _json({"operations": batches})
    match = re.fullmatch(r"/v1beta/batches/([0-9a-f]+)(:cancel)?", path)
    batch = _load(state, match.group(1)) if match else None
    if batch is None:
        return _error(404, "NOT_FOUND", f"The batch {path.rsplit('/', 1)[-1]} was not found.")
    if method == "POST" and match.group(2):
        if batch["state"] not in TERMINAL:
            _store(state, _finish(batch, "BATCH_STATE_CANCELLED"))
        return _json({})
    if method == "DELETE":
        state.path("batches", f"{batch['id']}.json").unlink(missing_ok=True)
        return _json({})
    return _json(_operation(_advance(emulator, state, batch)))


def send(handler, status: int, headers: dict, body) -> None:
    """Writes the answer; a Path body is streamed from disk in 1 MB pieces."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        size = body.stat().st_size if isinstance(body, Path) else len(body)
        handler.send_header("Content-Length", str(size))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if isinstance(body, Path):
            with open(body, "rb") as f:
                while chunk := f.read(1 << 20):
                    handler.wfile.write(chunk)
        else:
            handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
