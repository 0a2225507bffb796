"""The offline endpoint: a real HTTP server on loopback that speaks Google's image APIs, on `/v1beta` and `/v1`.

It draws pictures that answer the prompt (painter.py), signs the model's parts and checks them in multi-turn
requests as Google does (conversation.py), streams (`:streamGenerateContent?alt=sse`), counts tokens and lists and
describes its models. A newcomer with no key generates at once; the tests and benchmarks talk real HTTP to it, and
Google's own SDK is pointed at it in tests/test_sdk.py. Tests script faults with `script(Fault(...))`.

Prompt words the demo understands, to show the app's other outcomes: `#blocked`, `#noimage`, `#safety`,
`#filtered` (Imagen: some images filtered), `#slow` (a 20 s answer; streamed, thoughts spread over it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from services.catalog import Catalog, ModelInfo
from services.emulator import discovery, gemini, imagen
from services.emulator.batches import BatchService
from services.emulator.conversation import Signer
from services.emulator.faults import ApiFailure, Fault, RecordedRequest, Reply, google_error, not_found, to_snake
from services.emulator.files import FileStore
from services.emulator.painter import Painter

VERSIONED = re.compile(r"/(upload/|download/)?(v1|v1beta)/(.+)")
MODEL_CALL = re.compile(r"models/([^/:]+):(\w+)")


@dataclass
class Stream:
    events: list[dict]
    pauses: list[float]
    sse: bool


class Emulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        require_key: str | None = None,
        models: list[str] | None = None,
        snake_case: bool = False,
        texture: bool = False,
        page_size: int = 50,
        image_format: str = "PNG",
        signing_secret: bytes | None = None,
        batch_turnaround: float | None = 0.0,
        streaming: bool = True,
    ):
        """models: the ids served (default: the catalog's); signing_secret: what thought signatures are made with
        (default: random, so a signature from another emulator is refused as Google refuses a forged one);
        batch_turnaround: seconds a batch job takes (half pending, half running; None: until `complete()`);
        streaming: False answers `:streamGenerateContent` with 404, as proxies that do not stream do."""
        self.latency = latency
        self.require_key = require_key
        self.catalog = Catalog.load()
        self.models = {m.id: m.protocol for m in self.catalog.models()} if models is None else dict.fromkeys(models)
        for model_id, proto in list(self.models.items()):
            if proto is None:
                self.models[model_id] = self.catalog.resolve(model_id).protocol
        self.snake_case = snake_case
        self.page_size = page_size
        self.image_format = image_format
        self.batch_enabled = True
        self.batch_turnaround = batch_turnaround
        self.streaming = streaming
        self.files = FileStore()
        self.batches = BatchService()
        self.painter = Painter(texture=texture)
        self.signer = Signer(signing_secret or os.urandom(32))
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Emulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="atelier-emulator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()
        self.files.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self._faults):
                if fault.match is None or fault.match in path:
                    self._faults.remove(fault)
                    return fault
        return None

    def wait(self, seconds: float) -> bool:
        """Sleeps unless the server stops; False when it is stopping."""
        return not self._stopping.wait(seconds)

    def model_info(self, model_id: str) -> ModelInfo:
        return self.catalog.resolve(model_id, self.models.get(model_id))

    # --- answers -----------------------------------------------------------------------------------------------

    def check_key(self, headers: dict, query: dict) -> None:
        if self.require_key is None:
            return
        given = headers.get("x-goog-api-key") or (query.get("key") or [None])[0]
        auth = headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given:
            raise ApiFailure(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API "
                "Key or other form of API consumer identity to call this API.",
            )
        if given != self.require_key:
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com"}]  # fmt: skip
            raise ApiFailure(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details)

    def dispatch(self, method: str, path: str, query: dict, headers: dict, body, raw: bytes = b""):
        """(status, JSON), a Stream or a Reply; raises ApiFailure for Google's error answers."""
        self.check_key(headers, query)
        versioned = VERSIONED.fullmatch(path.rstrip("/"))
        if not versioned:
            raise not_found(f"The requested URL {path} was not found on this server.")
        prefix, version, resource = versioned.groups()
        if prefix == "upload/" and resource == "files" and method == "POST":
            return self.files.upload(self, version, query, headers, body, raw)
        if prefix == "download/" and resource.startswith("files/"):
            return self.files.route(self, method, resource, version, query)
        if prefix:
            raise not_found(f"The requested URL {path} was not found on this server.")
        if resource == "files" or resource.startswith("files/"):
            return self.files.route(self, method, resource, version, query)
        if resource == "batches" or resource.startswith("batches/"):
            return self.batches.route(self, method, resource, query)
        if method == "GET" and resource == "models":
            return 200, discovery.list_models(self, query)
        if method == "GET" and resource.startswith("models/") and ":" not in resource:
            return 200, discovery.get_model(self, resource.removeprefix("models/"), version)
        call = MODEL_CALL.fullmatch(resource)
        if method != "POST" or not call:
            raise not_found(f"The requested URL {path} was not found on this server.")
        model_id, verb = call.groups()
        protocol = self.models.get(model_id)
        streams = protocol == "generateContent" and self.streaming
        served = discovery.methods_of(protocol, self.batch_enabled) + (["streamGenerateContent"] if streams else [])
        if protocol is None or verb not in served:
            raise not_found(
                f"models/{model_id} is not found for API version {version}, or is not supported for {verb}. Call "
                "ListModels to see the list of available models and their supported methods."
            )
        if not isinstance(body, dict):
            raise ApiFailure(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        model = self.model_info(model_id)
        if verb == "predict":
            answer = imagen.predict(self, model, body)
            if "#slow" in json.dumps(body.get("instances")) and not self.wait(gemini.SLOW_SECONDS):
                return 503, google_error(503, "UNAVAILABLE", "The server is shutting down.")
            return 200, answer
        if verb == "countTokens":
            return 200, gemini.count_tokens(self, model, body)
        if verb == "batchGenerateContent":
            return 200, self.batches.create(self, model_id, body)
        answer = gemini.answer(self, model, body, stream=verb == "streamGenerateContent")
        if verb == "streamGenerateContent":
            pauses = answer.pauses or [0.0] * len(answer.events)
            return Stream(answer.events, pauses, (query.get("alt") or [""])[0] == "sse")
        if answer.slow and not self.wait(gemini.SLOW_SECONDS):
            return 503, google_error(503, "UNAVAILABLE", "The server is shutting down.")
        return 200, answer.merged()

    # --- batch controls (tests, and the demo that keeps its batches next to a library) -------------------------------

    def complete(self, name: str | None = None) -> None:
        """Answers the named batch (`batches/{id}`), or every unfinished one, now."""
        self.batches.complete(self, name)

    def expire(self, name: str | None = None) -> None:
        """Ends the named batch, or every unfinished one, as EXPIRED without results."""
        self.batches.expire(name)

    def keep_batches_in(self, directory: str | os.PathLike) -> None:
        """Keeps batches and files in `directory` (and serves those already there), so that an emulator started by
        another process answers for the batches this one created."""
        self.files.keep_in(Path(directory))
        self.batches.keep_in(Path(directory))

    def _maybe_snake(self, value):
        return to_snake(value) if self.snake_case else value


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (a cancelled job, a test that cuts the connection) is normal here: no traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def _handle(self, method: str):
        emulator = self.emulator
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        with emulator._lock:
            emulator.requests.append(RecordedRequest(method, parts.path, query, headers, body))
        fault = emulator.next_fault(parts.path)
        if fault is not None:
            return self._fault(fault)
        if emulator.latency and not emulator.wait(emulator.latency):
            return
        try:
            reply = emulator.dispatch(method, parts.path, query, headers, body, raw)
        except ApiFailure as failure:
            reply = failure.code, failure.body
        if isinstance(reply, Stream):
            return self._stream(reply)
        if isinstance(reply, Reply) and isinstance(reply.body, Path):
            return self._send_file(reply.status, reply.body, reply.content_type)
        if isinstance(reply, Reply):
            data = (
                reply.body if isinstance(reply.body, bytes) else json.dumps(emulator._maybe_snake(reply.body)).encode()
            )
            return self._send(reply.status, data, reply.content_type, reply.headers)
        status, answer = reply
        self._send(status, json.dumps(emulator._maybe_snake(answer)).encode(), "application/json")

    def _stream(self, stream: Stream):
        emulator = self.emulator
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream" if stream.sse else "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index, (event, pause) in enumerate(zip(stream.events, stream.pauses, strict=True)):
                if pause and not emulator.wait(pause):
                    self.close_connection = True
                    return
                text = json.dumps(emulator._maybe_snake(event))
                if stream.sse:
                    chunk = f"data: {text}\n\n"
                else:
                    chunk = ("[" if index == 0 else ",\n") + text + ("]" if index == len(stream.events) - 1 else "")
                self._chunk(chunk.encode())
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _fault(self, fault: Fault):
        emulator = self.emulator
        if fault.delay and not emulator.wait(fault.delay):
            return
        if fault.hang:
            while emulator.wait(0.05):
                pass
            return
        body = fault.body
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        elif body is None:
            body = b""
        if fault.cut_after is not None:
            self.send_response(fault.status)
            self.send_header("Content-Type", fault.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: fault.cut_after])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(fault.status, body, fault.content_type, fault.headers)

    def _send_file(self, status: int, path: Path, content_type: str):
        try:
            with open(path, "rb") as f:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                self.end_headers()
                while chunk := f.read(1 << 20):
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main() -> None:
    """`python -m services.emulator [--port N] [--latency S] [--texture]`: serves until standard input closes."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Atelier's offline Gemini API emulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--texture", action="store_true", help="photo-like grain: PNGs as big as real ones")
    args = parser.parse_args()
    with Emulator(port=args.port, latency=args.latency, texture=args.texture) as server:
        print(server.url, flush=True)
        sys.stdin.read()
