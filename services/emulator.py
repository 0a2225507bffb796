"""The offline endpoint: a real HTTP server on loopback that speaks both image protocols and model discovery.

It draws real images from the prompt (different prompts, different pictures; sizes follow the requested ratio and
size), so a newcomer with no key can generate at once, and the tests and benchmarks talk real HTTP to it.
Tests script faults (status codes, bodies, delays, cut connections, silence) with `script(Fault(...))`.

Prompt words the demo understands, to show the app's other outcomes: `#blocked`, `#noimage`, `#safety`,
`#filtered` (Imagen: some images filtered), `#slow` (a 20 s answer).
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import json
import os
import random
import re
import socket
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from services import emulator_batch
from services.catalog import Catalog
from services.imaging import encode, prepare_qt

IMAGEN_1K = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
SIZE_SCALE = {"512": 0.5, "0.5K": 0.5, "1K": 1, "2K": 2, "4K": 4}
IMAGE_TOKENS = {"512": 747, "0.5K": 747, "1K": 1120, "2K": 1680, "4K": 2520}


@dataclass
class Fault:
    """What the emulator does instead of its normal answer, for the next matching request."""

    status: int = 200
    body: bytes | str | dict | None = None
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # accept the request and never answer
    cut_after: int | None = None  # announce the whole body, send this many bytes of it, close the connection
    match: str | None = None  # only requests whose path contains this


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: dict | None


def pixel_size(aspect_ratio: str | None, size: str | None) -> tuple[int, int]:
    ratio = aspect_ratio or "1:1"
    scale = SIZE_SCALE.get(size or "1K", 1)
    if ratio in IMAGEN_1K:
        w, h = IMAGEN_1K[ratio]
    else:
        a, b = (int(x) for x in ratio.split(":"))
        area = 1024 * 1024
        w = int((area * a / b) ** 0.5) // 16 * 16
        h = int((area * b / a) ** 0.5) // 16 * 16
    return int(w * scale), int(h * scale)


_painter_prepared = threading.Lock()
_painter_ready = False


class Painter:
    """Deterministic pictures from a prompt: a sky of two colours and a few soft shapes, all chosen by its hash.

    Made on the main thread, it paints one tiny picture of each kind first: QPainter, gradients and colours used
    for the first time from two server threads at once crash PySide6 (see imaging.prepare_qt).
    """

    def __init__(self, texture: bool = False, cache_size: int = 16):
        global _painter_ready
        self.texture = texture
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        prepare_qt()
        with _painter_prepared:
            if not _painter_ready:
                for fmt, texture in (("PNG", False), ("PNG", True), ("JPEG", False), ("WEBP", False)):
                    self._render("prepare", 16, 16, 0, fmt, texture)
                _painter_ready = True

    def png(self, prompt: str, width: int, height: int, variant: int = 0, fmt: str = "PNG") -> bytes:
        key = (prompt, width, height, variant, fmt)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = self._render(prompt, width, height, variant, fmt)
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return data

    def _render(
        self, prompt: str, width: int, height: int, variant: int, fmt: str, texture: bool | None = None
    ) -> bytes:
        from PySide6.QtCore import QPointF, QRectF, Qt
        from PySide6.QtGui import QBrush, QColor, QImage, QLinearGradient, QPainter, QPen, QRadialGradient

        seed = int.from_bytes(hashlib.sha256(f"{prompt}\0{variant}".encode()).digest()[:8], "big")
        rng = random.Random(seed)

        def colour(alpha: int = 255) -> QColor:
            r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(0.35, 0.65), rng.uniform(0.5, 0.95))
            return QColor(int(r * 255), int(g * 255), int(b * 255), alpha)

        image = QImage(width, height, QImage.Format.Format_RGB32)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        sky = QLinearGradient(0, 0, width * rng.uniform(0.2, 1), height)
        sky.setColorAt(0, colour())
        sky.setColorAt(1, colour())
        painter.fillRect(0, 0, width, height, QBrush(sky))
        edge = min(width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        for _ in range(rng.randint(4, 9)):
            centre = QPointF(rng.uniform(0, width), rng.uniform(0, height))
            radius = rng.uniform(0.08, 0.45) * edge
            glow = QRadialGradient(centre, radius)
            glow.setColorAt(0, colour(rng.randint(150, 235)))
            glow.setColorAt(1, QColor(0, 0, 0, 0))
            painter.setBrush(QBrush(glow))
            painter.drawEllipse(centre, radius, radius)
        horizon = height * rng.uniform(0.55, 0.8)
        painter.setBrush(QBrush(colour(200)))
        painter.drawRect(QRectF(0, horizon, width, height - horizon))
        painter.setPen(QPen(colour(160), max(2, edge // 200)))
        for _ in range(rng.randint(2, 5)):
            y = rng.uniform(horizon, height)
            painter.drawLine(QPointF(0, y), QPointF(width, y + rng.uniform(-0.1, 0.1) * height))
        if self.texture if texture is None else texture:
            # Grain makes the PNG as big as a real photo-like one (a few MB at 2K), for honest benchmarks.
            grain = QImage(os.urandom(width * height), width, height, width, QImage.Format.Format_Grayscale8)
            painter.setOpacity(0.12)
            painter.drawImage(0, 0, grain)
        painter.end()
        return encode(image, fmt, 90 if fmt == "JPEG" else -1)


def to_snake(value):
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_snake(v) for v in value]
    return value


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
    ):
        self.latency = latency
        self.require_key = require_key
        catalog = Catalog.load()
        self.models = {m.id: m.protocol for m in catalog.models()} if models is None else dict.fromkeys(models)
        for model_id, proto in list(self.models.items()):
            if proto is None:
                self.models[model_id] = catalog.resolve(model_id).protocol
        self.display_names = {m.id: m.display_name for m in catalog.models()}
        self.snake_case = snake_case
        self.page_size = page_size
        self.image_format = image_format
        self.painter = Painter(texture=texture)
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
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

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self._faults):
                if fault.match is None or fault.match in path:
                    self._faults.remove(fault)
                    return fault
        return None

    def _wait(self, seconds: float) -> bool:
        """Sleeps unless the server stops; False when it is stopping."""
        return not self._stopping.wait(seconds)

    # --- answers -----------------------------------------------------------------------------------------------

    def _check_key(self, headers, query) -> tuple[int, dict] | None:
        if self.require_key is None:
            return None
        given = headers.get("x-goog-api-key") or (query.get("key") or [None])[0]
        auth = headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given:
            return 403, google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call this API.",
            )
        if given != self.require_key:
            body = google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
            body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ]
            return 400, body
        return None

    def list_models(self, query: dict) -> tuple[int, dict]:
        page_size = min(self.page_size, int((query.get("pageSize") or ["50"])[0] or 50))
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        ids = list(self.models)
        page = ids[start : start + page_size]
        body: dict = {
            "models": [
                {
                    "name": f"models/{m}",
                    "displayName": self.display_names.get(m, m),
                    "supportedGenerationMethods": [self.models[m]]
                    + (["countTokens"] if self.models[m] == "generateContent" else []),
                }
                for m in page
            ]
        }
        if start + page_size < len(ids):
            body["nextPageToken"] = str(start + page_size)
        return 200, body

    def predict(self, model: str, body: dict) -> tuple[int, dict]:
        instances = body.get("instances") or [{}]
        prompt = str(instances[0].get("prompt", ""))
        params = body.get("parameters") or {}
        if "imageSize" in params:
            return 400, google_error(400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "imageSize"')
        count = int(params.get("sampleCount", 4))
        if not 1 <= count <= 4:
            return 400, google_error(400, "INVALID_ARGUMENT", "sampleCount must be between 1 and 4.")
        if "#blocked" in prompt:
            return 400, google_error(
                400,
                "INVALID_ARGUMENT",
                "Your current prompt may contain sensitive words that violate Google's "
                "Responsible AI practices. Try rephrasing the prompt. If you think this was an error, send feedback.",
            )
        if "#noimage" in prompt:
            return 200, {}
        width, height = pixel_size(params.get("aspectRatio"), params.get("sampleImageSize"))
        predictions = []
        for i in range(count):
            if ("#filtered" in prompt and i % 2 == 1) or "#safety" in prompt:
                predictions.append(
                    {
                        "raiFilteredReason": "Unable to show generated images. All images were filtered "
                        "out because they violated Vertex AI's usage guidelines. Support codes: 56562880"
                    }
                )
                continue
            data = self.painter.png(prompt, width, height, i, self.image_format)
            predictions.append(
                {
                    "mimeType": f"image/{self.image_format.lower()}",
                    "bytesBase64Encoded": base64.b64encode(data).decode(),
                }
            )
        return 200, {"predictions": predictions}

    def generate_content(self, model: str, body: dict) -> tuple[int, dict]:
        if int((body.get("generationConfig") or {}).get("candidateCount", 1)) != 1:
            return 400, google_error(400, "INVALID_ARGUMENT", "Only one candidate can be specified")
        texts = []
        references = 0
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                if "text" in part:
                    texts.append(str(part["text"]))
                if "inlineData" in part or "inline_data" in part:
                    references += 1
        prompt = " ".join(texts)
        config = body.get("generationConfig") or {}
        image_config = config.get("imageConfig") or {}
        size = image_config.get("imageSize")
        if size is not None and size not in SIZE_SCALE:
            return 400, google_error(400, "INVALID_ARGUMENT", f"Unsupported imageSize: {size}")
        usage = {"promptTokenCount": 9 + references * 560, "candidatesTokenCount": 0, "totalTokenCount": 0}
        if "#blocked" in prompt:
            return 200, {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": usage,
                "modelVersion": model,
            }
        if "#safety" in prompt:
            return 200, {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": []},
                        "finishReason": "IMAGE_SAFETY",
                        "finishMessage": "The generated image was flagged by safety filters.",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
            }
        if "#noimage" in prompt:
            usage["candidatesTokenCount"] = 12
            return 200, {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"text": "I can describe that, but I could not draw it this time."}],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
            }
        width, height = pixel_size(image_config.get("aspectRatio"), size)
        # Without a seed each call is a new variation, as with the real models.
        variant = int(config["seed"]) if "seed" in config else random.getrandbits(32)
        data = self.painter.png(prompt, width, height, variant, self.image_format)
        draft = self.painter.png(prompt + " draft", 64, 64, variant)
        image_tokens = IMAGE_TOKENS.get(size or "1K", 1290)
        usage.update(
            {
                "candidatesTokenCount": image_tokens + 8,
                "totalTokenCount": usage["promptTokenCount"] + image_tokens + 8,
                "candidatesTokensDetails": [
                    {"modality": "IMAGE", "tokenCount": image_tokens},
                    {"modality": "TEXT", "tokenCount": 8},
                ],
            }
        )
        parts = [
            {"text": "Sketching the composition first.", "thought": True},
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(draft).decode()}, "thought": True},
            {"text": f"Here is {prompt[:60]}.", "thoughtSignature": base64.b64encode(os.urandom(24)).decode()},
            {"inlineData": {"mimeType": f"image/{self.image_format.lower()}", "data": base64.b64encode(data).decode()}},
        ]
        return 200, {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": hashlib.sha1(os.urandom(8)).hexdigest()[:20],
        }

    def _handler_class(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                pass

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

            def _handle(self, method: str):
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
                fault = emulator._next_fault(parts.path)
                if fault is not None:
                    return self._fault(fault)
                if emulator.latency and not emulator._wait(emulator.latency):
                    return
                batch_answer = emulator_batch.handle(emulator, method, parts.path, query, headers, raw)
                if batch_answer is not None:
                    return emulator_batch.send(self, *batch_answer)
                status, answer = self._route(method, parts.path, query, headers, body, raw)
                if isinstance(answer, dict) and "#slow" in json.dumps(body or {}) and not emulator._wait(20):
                    return
                if emulator.snake_case and isinstance(answer, dict):
                    answer = to_snake(answer)
                self._send(status, json.dumps(answer).encode(), "application/json")

            def _route(self, method, path, query, headers, body, raw):
                denied = emulator._check_key(headers, query)
                if denied:
                    return denied
                if method == "GET" and path.rstrip("/") == "/v1beta/models":
                    return emulator.list_models(query)
                match = re.fullmatch(r"/v1beta/models/([^/:]+):(predict|generateContent)", path)
                if method != "POST" or not match:
                    return 404, google_error(404, "NOT_FOUND", f"The requested URL {path} was not found.")
                model, call = match.groups()
                if model not in emulator.models or emulator.models[model] != call:
                    return 404, google_error(
                        404,
                        "NOT_FOUND",
                        f"models/{model} is not found for API version v1beta, or is not supported "
                        f"for {call}. Call ListModels to see the list of available models and their supported methods.",
                    )
                if not isinstance(body, dict):
                    return 400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
                if call == "predict":
                    return emulator.predict(model, body)
                return emulator.generate_content(model, body)

            def _fault(self, fault: Fault):
                if fault.delay and not emulator._wait(fault.delay):
                    return
                if fault.hang:
                    while emulator._wait(0.05):
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

        return Handler


def google_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def retry_info(seconds: float) -> dict:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}


def main() -> None:
    """`python -m services.emulator [--latency S] [--texture]`: serves until standard input closes."""
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


if __name__ == "__main__":
    main()
