"""json.loads for bodies that carry images, without holding the GIL for the length of the images.

json.loads is C code that never lets another thread run: a 27 MB body of four 2K images held the GIL ~50 ms in a
worker (90-200 ms for a 20 MB stream event), and the window's GUI thread, needing the GIL for its next event,
waited as long. Here the long values of the image keys (IMAGE_KEYS: base64, so no escapes) are found with
bytes.find (~1 ms per 7 MB) and replaced by short placeholders; the rest, now small, goes to json.loads; the values
come back as memoryviews of the body, which protocol._decode_image decodes in 1 MB slices without a copy.
"""

from __future__ import annotations

import json
from typing import Any

LIFT_FROM = 64 * 1024  # characters: an image key's value this long is cut out
IMAGE_KEYS = (b'"data"', b'"bytesBase64Encoded"')  # inlineData.data (:generateContent), :predict's images
_MARK = "\x00atelier-lifted:"


def loads(raw: bytes | bytearray, start: int = 0, end: int | None = None) -> Any:
    """json.loads(raw[start:end]), the long values of IMAGE_KEYS as memoryviews of `raw`."""
    end = len(raw) if end is None else end
    view = memoryview(raw)
    pieces: list = []
    lifted: list[memoryview] = []
    copied = start
    for key in IMAGE_KEYS:
        scan = start
        while (found := raw.find(key, scan, end)) >= 0:
            value_start, value_end = _string_after(raw, found + len(key), end)
            scan = max(value_end, found + len(key))
            if value_end - value_start >= LIFT_FROM and raw.find(b"\\", value_start, value_end) < 0:
                pieces.append((value_start, value_end))
    if not pieces:
        return json.loads(raw[start:end] if (start, end) != (0, len(raw)) else raw)
    parts: list = []
    for value_start, value_end in sorted(pieces):
        parts += (view[copied:value_start], b"\\u0000atelier-lifted:%d" % len(lifted))
        lifted.append(view[value_start:value_end])
        copied = value_end
    parts.append(view[copied:end])
    return _put_back(json.loads(b"".join(parts)), lifted)


def _string_after(raw: bytes | bytearray, i: int, end: int) -> tuple[int, int]:
    """(start, end) of the string value after a key ending at `i` (`: "..."`), or (i, i) when there is none."""
    i = _skip_space(raw, i, end)
    if i >= end or raw[i] != 0x3A:  # ':'
        return i, i
    i = _skip_space(raw, i + 1, end)
    if i >= end or raw[i] != 0x22:  # '"'
        return i, i
    close = raw.find(b'"', i + 1, end)
    return (i + 1, close) if close >= 0 else (i, i)


def _skip_space(raw: bytes | bytearray, i: int, end: int) -> int:
    while i < end and raw[i] in b" \t\r\n":
        i += 1
    return i


def _put_back(value: Any, lifted: list[memoryview]) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _put_back(item, lifted)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _put_back(item, lifted)
    elif isinstance(value, str) and value.startswith(_MARK) and value[len(_MARK) :].isdigit():
        index = int(value[len(_MARK) :])
        return lifted[index] if index < len(lifted) else value
    return value
