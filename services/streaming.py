"""Reading `:streamGenerateContent?alt=sse`: bytes cut into events as they arrive, each event read in a worker
thread, the events merged into one GenerateContentResponse.

An event is `data: <a whole GenerateContentResponse JSON>` ended by a blank line; one can be 20 MB (an image).
The event loop only appends chunks to a list and looks for the blank line in each new chunk (no quadratic copies).
`read_event` runs in a worker thread; it reads the JSON with json_lifting, which keeps json.loads from holding the
GIL for the images' length and hands them on as memoryviews, decoded later in 1 MB slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services import json_lifting
from services.api_errors import error_from_envelope, not_json_error
from services.errors import ApiError
from services.protocol import _decode_image, get
from services.status import ErrorKind
from services.types import ReceivedImage


class StreamSupport:
    """Whether an endpoint (by base URL) serves `:streamGenerateContent`, as learnt in this process.

    An endpoint is tried streamed until it answers 404/405 there while `:generateContent` works; from then on, for
    the rest of the process, it is asked the plain way.
    """

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}

    def streams(self, base_url: str) -> bool | None:
        return self._known.get(base_url)

    def remember(self, base_url: str, streams: bool) -> None:
        self._known[base_url] = streams

    def forget(self) -> None:
        self._known.clear()


STREAM_SUPPORT = StreamSupport()


class StreamUnsupported(Exception):
    """`:streamGenerateContent` answered 404/405: ask `:generateContent` instead."""

    attempts = 0  # failed streamed attempts before the 404/405 (a 503, then a proxy's 404...)


class EventSplitter:
    """Cuts an SSE byte stream into events; each event comes out as the list of chunks that hold it."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._tail = b""  # the last two bytes seen, for a blank line split across two chunks

    def feed(self, chunk: bytes) -> list[list[bytes]]:
        events = []
        while chunk:
            tail = self._tail
            window = tail + chunk if tail else chunk
            cut = _separator_end(window)
            if cut < 0:
                self._pending.append(chunk)
                self._tail = window[-2:]
                break
            taken = max(cut - len(tail), 0)
            self._pending.append(chunk[:taken])
            events.append(self._pending)
            self._pending, self._tail = [], b""
            chunk = chunk[taken:]
        return events

    def finish(self) -> list[bytes] | None:
        """What is left at the end of the stream: an event without its closing blank line, or None."""
        rest, self._pending, self._tail = self._pending, [], b""
        return rest if any(part.strip() for part in rest) else None


def _separator_end(window: bytes) -> int:
    """The index just past the first blank line (`\\n\\n` or `\\r\\n\\r\\n`), or -1."""
    ends = [i + n for i, n in ((window.find(b"\n\n"), 2), (window.find(b"\n\r\n"), 3)) if i >= 0]
    return min(ends) if ends else -1


@dataclass
class EventReading:
    body: dict  # the event without its thought parts
    thoughts: list[str] = field(default_factory=list)
    drafts: list[ReceivedImage] = field(default_factory=list)
    model_parts: list = field(default_factory=list)  # candidates[0]'s parts as received, thoughts included (refine)


def read_event(chunks: list[bytes], *, last: bool = False) -> EventReading | None:
    """One event, read (in a worker thread). None for a keep-alive or `[DONE]`. Raises ApiError: a server error
    sent inside the stream, or something that is not an event (`last`: the stream ended inside this event)."""
    raw = _gather(chunks)
    spans, junk = _data_spans(raw)
    if not spans:
        if junk:
            raise not_json_error(raw, 200, "text/html" if b"<html" in raw[:500].lower() else "")
        return None
    if len(spans) == 1:
        start, end = spans[0]
    else:
        raw = b"\n".join(raw[s:e] for s, e in spans)
        start, end = 0, len(raw)
    if end - start < 16 and raw[start:end].strip() == b"[DONE]":
        return None
    try:
        value = json_lifting.loads(raw, start, end)
    except (ValueError, UnicodeDecodeError):
        if last:
            raise ApiError(
                "The server's streamed answer was cut off before it was complete.",
                http_status=200,
                kind=ErrorKind.BAD_RESPONSE,
                retryable=True,
            ) from None
        snippet = bytes(raw[start : min(end, start + 160)]).decode("utf-8", errors="replace")
        raise ApiError(
            f"The server sent a streamed event that is not JSON: “{' '.join(snippet.split())}”.",
            http_status=200,
            kind=ErrorKind.BAD_RESPONSE,
        ) from None
    if not isinstance(value, dict):
        raise ApiError(
            "The server sent a streamed event that is not an API response.",
            http_status=200,
            kind=ErrorKind.BAD_RESPONSE,
        )
    if isinstance(value.get("error"), dict | str):
        envelope = value["error"]
        code = envelope.get("code") if isinstance(envelope, dict) else None
        raise error_from_envelope(envelope, int(code) if isinstance(code, int) else 500)
    return split_thoughts(value)


def _gather(chunks: list[bytes]) -> bytearray:
    """The chunks in one buffer, copied one chunk per call: a single join of 20 MB held the GIL for 20 ms here, and
    the loop thread can take the GIL back between two of these copies."""
    raw = bytearray(sum(len(chunk) for chunk in chunks))
    pos = 0
    for chunk in chunks:
        raw[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    return raw


def split_thoughts(value: dict) -> EventReading:
    """Takes the `thought: true` parts out of a response: their text as thoughts, their images as drafts."""
    reading = EventReading(value)
    dropped: list[str] = []
    for candidate in get(value, "candidates") or []:
        content = get(candidate, "content") if isinstance(candidate, dict) else None
        parts = get(content, "parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            continue
        kept = []
        if not reading.model_parts:
            reading.model_parts = list(parts)
        for part in parts:
            if not (isinstance(part, dict) and part.get("thought") is True):
                kept.append(part)
                continue
            inline = get(part, "inlineData")
            if isinstance(inline, dict):
                draft = _decode_image(inline, dropped, "draft")  # a draft that cannot be read is skipped
                if draft is not None:
                    reading.drafts.append(draft)
            elif isinstance(part.get("text"), str) and part["text"].strip():
                reading.thoughts.append(part["text"].strip())
        content["parts"] = kept
    return reading


def _data_spans(raw: bytes | bytearray) -> tuple[list[tuple[int, int]], bool]:
    """Where the `data:` values are, as (start, end) offsets; and whether other text than SSE fields was seen."""
    spans = []
    junk = False
    pos, size = 0, len(raw)
    while pos < size:
        end = raw.find(b"\n", pos)
        end = size if end < 0 else end
        stop = end - 1 if end > pos and raw[end - 1] == 0x0D else end
        if raw.startswith(b"data:", pos, stop):
            start = pos + 5
            if start < stop and raw[start] == 0x20:
                start += 1
            spans.append((start, stop))
        elif stop > pos and not raw.startswith((b":", b"event:", b"id:", b"retry:"), pos, stop):
            junk = junk or bool(raw[pos:stop].strip())
        pos = end + 1
    return spans, junk


class StreamMerger:
    """The events of one stream, merged: text joined, the final (non-thought) parts in order, the last finish
    reason, and usage from the last event that has it."""

    def __init__(self) -> None:
        self.events = 0
        self.texts: list[str] = []
        self.images: list[dict] = []
        self.finish_reason: str | None = None
        self.finish_message: str | None = None
        self.usage: dict | None = None
        self.feedback: dict | None = None
        self.model_version: str | None = None
        self.model_parts: list[dict] = []  # every event's parts in order, as received: the turn a refine sends back

    def add(self, body: dict, model_parts: list | None = None) -> None:
        self.events += 1
        self.model_parts.extend(model_parts or ())
        if isinstance(get(body, "usageMetadata"), dict):
            self.usage = get(body, "usageMetadata")
        if isinstance(get(body, "promptFeedback"), dict):
            self.feedback = get(body, "promptFeedback")
        self.model_version = get(body, "modelVersion") or self.model_version
        for candidate in get(body, "candidates") or []:
            if not isinstance(candidate, dict):
                continue
            content = get(candidate, "content")
            for part in (get(content, "parts") if isinstance(content, dict) else None) or []:
                if not isinstance(part, dict):
                    continue
                if isinstance(get(part, "inlineData"), dict):
                    self.images.append(part)
                elif isinstance(part.get("text"), str):
                    self.texts.append(part["text"])
            self.finish_reason = get(candidate, "finishReason") or self.finish_reason
            self.finish_message = get(candidate, "finishMessage") or self.finish_message

    @property
    def complete(self) -> bool:
        """Whether the stream reached an answer (a finish reason, a block, or an image) rather than being cut."""
        return bool(self.finish_reason or self.feedback or self.images)

    def body(self) -> dict:
        body: dict = {}
        parts = ([{"text": "".join(self.texts)}] if "".join(self.texts).strip() else []) + self.images
        if parts or self.finish_reason:
            candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
            if self.finish_reason:
                candidate["finishReason"] = self.finish_reason
            if self.finish_message:
                candidate["finishMessage"] = self.finish_message
            body["candidates"] = [candidate]
        if self.feedback:
            body["promptFeedback"] = self.feedback
        if self.usage:
            body["usageMetadata"] = self.usage
        if self.model_version:
            body["modelVersion"] = self.model_version
        if self.model_parts:
            body[MODEL_TURN_KEY] = {"role": "model", "parts": self.model_parts}
        return body


MODEL_TURN_KEY = "_atelierModelTurn"  # a merged body's unmerged model turn (read by protocol.parse_generate_content)


def merge_array(values: list) -> dict:
    """A stream answered as one JSON array of responses (a server that ignored `alt=sse`), merged; thoughts dropped."""
    merger = StreamMerger()
    for value in values:
        if isinstance(value, dict):
            if isinstance(value.get("error"), dict | str):
                envelope = value["error"]
                code = envelope.get("code") if isinstance(envelope, dict) else None
                raise error_from_envelope(envelope, int(code) if isinstance(code, int) else 500)
            reading = split_thoughts(value)
            merger.add(reading.body, reading.model_parts)
    return merger.body()
