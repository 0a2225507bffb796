"""json.loads for response bodies that carry images, without holding the GIL for the length of the images.

json.loads is C code that never lets another thread run: a 27 MB body of four 2K images held the GIL for ~50 ms in
a worker, and the window's GUI thread, needing the GIL for its next event, waited as long. Here each long string
without escapes (base64 is made of letters, digits, + / =) is found with bytes.find, which takes ~1 ms per 7 MB,
cut out and replaced by a short placeholder; the rest, now small, goes to json.loads; the strings are put back
decoded from ASCII (~1 ms per 7 MB). Anything unexpected (a long key, a string that is not plain ASCII) leaves the
body to json.loads as it is, so the result is always exactly json.loads's.
"""

from __future__ import annotations

import json
from typing import Any

LIFT_FROM = 64 * 1024  # characters: a string this long is an image (or a long text), worth cutting out
BODY_FROM = 1 << 20  # bytes: smaller bodies go to json.loads directly
_MARK = "\x00atelier-lifted:"


def loads(raw: bytes) -> Any:
    """json.loads(raw), with the long plain strings of a big body cut out first (see the module's docstring)."""
    if len(raw) < BODY_FROM:
        return json.loads(raw)
    lifted: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    kept_from = 0
    at = raw.find(b'"')
    while at >= 0:
        end = _closing_quote(raw, at)
        if end < 0:
            return json.loads(raw)  # a string never closed: json.loads says so
        if end - at - 1 >= LIFT_FROM and raw.find(b"\\", at + 1, end) < 0 and raw[at + 1 : end].isascii():
            pieces += (raw[kept_from:at], json.dumps(f"{_MARK}{len(lifted)}").encode("ascii"))
            lifted.append((at + 1, end))
            kept_from = end + 1
        at = raw.find(b'"', end + 1)
    if not lifted:
        return json.loads(raw)
    pieces.append(raw[kept_from:])
    value = json.loads(b"".join(pieces))
    put_back = _PutBack(raw, lifted)
    value = put_back(value)
    return value if put_back.count == len(lifted) else json.loads(raw)  # a lifted key: not worth the trouble


def _closing_quote(raw: bytes, opening: int) -> int:
    """Where the string opened at `opening` closes: the next quote not escaped by an odd run of backslashes."""
    end = raw.find(b'"', opening + 1)
    while end >= 0:
        backslashes = 0
        while raw[end - 1 - backslashes] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 0:
            return end
        end = raw.find(b'"', end + 1)
    return -1


class _PutBack:
    def __init__(self, raw: bytes, lifted: list[tuple[int, int]]):
        self.raw, self.lifted, self.count = raw, lifted, 0

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(_MARK):
            self.count += 1
            start, end = self.lifted[int(value[len(_MARK) :])]
            return self.raw[start:end].decode("ascii")
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        return value
