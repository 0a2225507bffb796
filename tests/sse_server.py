"""A real HTTP server on 127.0.0.1 that answers with scripted Server-Sent Events bodies, for the streamed road.

Each request to `...:streamGenerateContent` or `...:generateContent` takes the next scripted `Reply` for that
method (or a default good answer). Replies are sent with chunked transfer encoding, in pieces, so a client sees an
event arrive in several reads; `cut` closes the connection in the middle of the body.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.helpers import gemini_body, image_part, png

USAGE = {"promptTokenCount": 9, "candidatesTokenCount": 1130, "candidatesTokensDetails": [
    {"modality": "IMAGE", "tokenCount": 1120}]}  # fmt: skip


def event(body: dict | str | bytes) -> bytes:
    """One SSE event: `data: <JSON>` and the blank line that ends it (CRLF, as Google sends)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return b"data: " + body + b"\r\n\r\n"


def thought_text(text: str) -> dict:
    return gemini_body({"text": text, "thought": True}, finish=None)


def thought_image(data: bytes) -> dict:
    return gemini_body({**image_part(data), "thought": True}, finish=None)


def final_image(data: bytes, text: str | None = None) -> dict:
    parts = ([{"text": text}] if text else []) + [{**image_part(data), "thoughtSignature": "sig"}]
    body = gemini_body(*parts, usage=USAGE)
    return body


@dataclass
class Reply:
    status: int = 200
    events: list[bytes] = field(default_factory=list)  # SSE bytes, sent in order
    body: bytes | None = None  # a whole body instead of events
    content_type: str = "text/event-stream"
    piece: int = 48 * 1024  # bytes per write
    cut_after: int | None = None  # close the connection after this many body bytes
    hold: bool = False  # after the events, keep the connection open until the server stops


@dataclass
class Seen:
    method: str  # streamGenerateContent or generateContent
    query: dict
    body: dict


class SSEServer:
    def __init__(self) -> None:
        self.replies: dict[str, deque[Reply]] = {"streamGenerateContent": deque(), "generateContent": deque()}
        self.seen: list[Seen] = []
        self.disconnected = threading.Event()  # a held reply found its client gone
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def script(self, method: str, *replies: Reply) -> None:
        self.replies[method].extend(replies)

    def __enter__(self) -> SSEServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self, method: str) -> Reply:
        queue = self.replies[method]
        if queue:
            return queue.popleft()
        image = final_image(png("streamed", 64, 48))
        if method == "streamGenerateContent":
            return Reply(events=[event(thought_text("**Sketching**")), event(image)])
        return Reply(body=json.dumps(image).encode(), content_type="application/json")

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                parts = urlsplit(self.path)
                method = parts.path.rsplit(":", 1)[-1]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                server.seen.append(Seen(method, parse_qs(parts.query), json.loads(raw or b"{}")))
                reply = server._next(method) if method in server.replies else Reply(status=404, body=b"no route")
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    server.disconnected.set()

            def _send(self, reply: Reply) -> None:
                payload = reply.body if reply.body is not None else b"".join(reply.events)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                for start in range(0, len(payload), reply.piece):
                    piece = payload[start : start + reply.piece]
                    if reply.cut_after is not None and sent + len(piece) >= reply.cut_after:
                        piece = piece[: reply.cut_after - sent]
                        self._chunk(piece)
                        self.close_connection = True
                        return
                    self._chunk(piece)
                    sent += len(piece)
                if reply.hold:
                    while not server._stop.wait(0.05):
                        self._chunk(b": keep-alive\n")  # a comment line: fails once the client has gone
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _chunk(self, data: bytes) -> None:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

        return Handler
