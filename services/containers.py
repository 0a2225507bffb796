"""Walking the containers of image files anyone may have written: PNG chunks, JPEG segments, WebP (RIFF) chunks.

Every function here is total: on malformed bytes it stops or skips, appends one short phrase saying what was wrong
to `problems` (when given) and returns what it could read. Nothing is allocated in proportion to a size the file
declares: a declared length is checked against the bytes really there before anything is sliced, and decompression
is capped.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import NamedTuple

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# One decompressed text; ComfyUI's workflows run to a few MB, nothing sensible comes near this.
MAX_TEXT_BYTES = 8 * 1024 * 1024
# All the text read from one file together.
MAX_TOTAL_TEXT_BYTES = 32 * 1024 * 1024
_MAX_PNG_CHUNK = 0x7FFFFFFF  # the PNG specification's limit for a chunk length
_PNG_CHUNK_HEADER = struct.Struct(">I4s")  # length, type
_PNG_CRC = struct.Struct(">I")


class Chunk(NamedTuple):
    """One PNG chunk, JPEG segment or RIFF chunk: its type (bytes; a JPEG marker is an int) and where its body is."""

    kind: bytes | int
    start: int
    end: int


def note(problems: list[str] | None, problem: str) -> None:
    if problems is not None and len(problems) < 20:
        problems.append(problem)


# --- PNG -----------------------------------------------------------------------------------------------------------


def png_chunks(data: bytes, problems: list[str] | None = None) -> Iterator[Chunk]:
    """The chunks of a PNG up to IEND, in order; stops at the first chunk that is damaged or cut short."""
    if not data.startswith(PNG_SIGNATURE):
        return
    i, n = 8, len(data)
    header = _PNG_CHUNK_HEADER.unpack_from
    while True:
        if i + 12 > n:
            note(problems, f"PNG cut short at byte {i} (no IEND)")
            return
        length, kind = header(data, i)
        if length > _MAX_PNG_CHUNK or not kind.isalpha():
            note(problems, f"damaged PNG chunk header at byte {i}")
            return
        start = i + 8
        end = start + length
        if end + 4 > n:
            note(problems, f"PNG {kind.decode('ascii')} chunk cut short")
            return
        yield Chunk(kind, start, end)
        if kind == b"IEND":
            return
        i = end + 4


def png_crc_ok(data: bytes, chunk: Chunk) -> bool:
    declared = int.from_bytes(data[chunk.end : chunk.end + 4], "big")
    return zlib.crc32(memoryview(data)[chunk.start - 4 : chunk.end]) == declared


def inflate(compressed: bytes | memoryview, limit: int = MAX_TEXT_BYTES) -> bytes | None:
    """A whole zlib stream decompressed, or None when it is damaged, cut short or would exceed `limit` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, max(limit, 1))
    except zlib.error:
        return None
    if not inflater.eof or len(out) > limit:
        return None  # damaged, cut short, or more than the limit (the rest stays compressed, never allocated)
    return out


def png_texts(data: bytes, problems: list[str] | None = None, exif: list[bytes] | None = None) -> list[tuple[str, str]]:
    """(keyword, text) of every readable tEXt, zTXt and iTXt chunk, in file order; with `exif`, the body of the first
    eXIf chunk is appended to it (one walk over the chunks for both).

    A chunk with a wrong CRC, a malformed layout, an unknown compression or too much text is skipped and noted.
    The chunks are walked as png_chunks walks them, inline: this runs once for every file an import reads, where a
    generator of Chunk tuples and a view per chunk cost more than the rest of the walk.
    """
    texts: list[tuple[str, str]] = []
    if not data.startswith(PNG_SIGNATURE):
        return texts
    budget = MAX_TOTAL_TEXT_BYTES
    header = _PNG_CHUNK_HEADER.unpack_from
    crc_of = _PNG_CRC.unpack_from
    crc32 = zlib.crc32
    view = memoryview(data)  # slices of it copy nothing: a compressed ComfyUI text runs to megabytes
    i, n = 8, len(data)
    while True:
        if i + 12 > n:
            note(problems, f"PNG cut short at byte {i} (no IEND)")
            return texts
        length, kind = header(data, i)
        if length > _MAX_PNG_CHUNK or not kind.isalpha():
            note(problems, f"damaged PNG chunk header at byte {i}")
            return texts
        start = i + 8
        end = start + length
        if end + 4 > n:
            note(problems, f"PNG {kind.decode('ascii')} chunk cut short")
            return texts
        if kind in _PNG_TEXT_KINDS:
            if crc32(view[i + 4 : end]) != crc_of(data, end)[0]:
                note(problems, f"PNG {kind.decode('ascii')} chunk with a wrong CRC")
            else:
                limit = budget if budget < MAX_TEXT_BYTES else MAX_TEXT_BYTES  # (min() parses its arguments slowly)
                if kind == b"tEXt":  # the usual one, read here: its keyword (1-79 bytes), NUL, Latin-1 text
                    nul = data.find(b"\0", start, start + 80 if length > 80 else end)
                    ok = nul > start and end - nul - 1 <= limit
                    parsed = (data[start:nul].decode("latin-1"), data[nul + 1 : end].decode("latin-1")) if ok else None
                else:
                    parsed = _png_text(kind, view[start:end], limit)
                if parsed is None:
                    note(problems, f"unreadable PNG {kind.decode('ascii')} chunk")
                else:
                    budget -= len(parsed[1])
                    texts.append(parsed)
        elif kind == b"IEND":
            return texts
        elif kind == b"eXIf" and exif is not None and not exif:
            exif.append(data[start:end])
        i = end + 4


_PNG_TEXT_KINDS = frozenset((b"tEXt", b"zTXt", b"iTXt"))


def _png_text(kind: bytes, body: memoryview, limit: int) -> tuple[str, str] | None:
    """One text chunk's keyword and text; the body is a view, so a large compressed text is never copied."""
    end = bytes(body[:80]).find(b"\0")
    if not 1 <= end <= 79:
        return None
    key = bytes(body[:end]).decode("latin-1")
    rest = body[end + 1 :]
    if kind == b"tEXt":
        return (key, bytes(rest).decode("latin-1")) if len(rest) <= limit else None
    if kind == b"zTXt":
        if len(rest) < 1 or rest[0] != 0:
            return None
        text = inflate(rest[1:], limit)
        return None if text is None else (key, text.decode("latin-1"))
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    if len(rest) < 2 or rest[0] not in (0, 1):
        return None
    compressed, method = rest[0], rest[1]
    language_end = _find_nul(rest, 2)
    translated_end = _find_nul(rest, language_end + 1) if language_end >= 0 else -1
    if translated_end < 0:
        return None
    value = rest[translated_end + 1 :]
    if compressed:
        if method != 0:
            return None
        value = inflate(value, limit)
        if value is None:
            return None
    elif len(value) > limit:
        return None
    return key, bytes(value).decode("utf-8", errors="replace")


def _find_nul(view: memoryview, start: int) -> int:
    """Where the next NUL is in the (short) language or translated-keyword field, or -1."""
    field = bytes(view[start : start + 1024])
    at = field.find(b"\0")
    return -1 if at < 0 else start + at


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + (zlib.crc32(kind + body) & 0xFFFFFFFF).to_bytes(4, "big")


# --- JPEG ----------------------------------------------------------------------------------------------------------

SOS = 0xDA
COM = 0xFE
APP1 = 0xE1
APP11 = 0xEB
MAX_SEGMENT_BODY = 65533


def jpeg_segments(data: bytes, problems: list[str] | None = None) -> Iterator[Chunk]:
    """Header segments (marker, body start, body end) up to and including the start of scan."""
    if not data.startswith(b"\xff\xd8"):
        return
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            note(problems, f"JPEG: no marker where one belongs (byte {i})")
            return
        while i + 1 < n and data[i + 1] == 0xFF:  # fill bytes
            i += 1
        if i + 1 >= n:
            break
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker == 0xD9:
            return
        if marker == 0x00 or i + 4 > n:
            note(problems, f"damaged JPEG segment at byte {i}")
            return
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        end = i + 2 + length
        if length < 2 or end > n:
            note(problems, f"JPEG segment {marker:#04x} cut short or with an impossible length")
            return
        yield Chunk(marker, i + 4, end)
        if marker == SOS:
            return
        i = end
    note(problems, "JPEG cut short before its image data")


def jpeg_segment(marker: int, body: bytes) -> bytes:
    if len(body) > MAX_SEGMENT_BODY:
        raise ValueError("a JPEG segment holds at most 65533 bytes")
    return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body


# --- WebP (RIFF) ---------------------------------------------------------------------------------------------------


def riff_chunks(data: bytes, problems: list[str] | None = None) -> Iterator[Chunk]:
    """The chunks of a RIFF WEBP file (VP8X, VP8, VP8L, EXIF, XMP , ICCP...), within the size RIFF declares."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return
    declared_end = 8 + int.from_bytes(data[4:8], "little")
    if declared_end > len(data):
        note(problems, "WebP cut short")
    riff_end = min(len(data), declared_end)
    i = 12
    while i + 8 <= riff_end:
        kind = data[i : i + 4]
        start = i + 8
        end = start + int.from_bytes(data[i + 4 : i + 8], "little")
        if end > riff_end:
            note(problems, f"WebP {kind!r} chunk cut short")
            return
        yield Chunk(kind, start, end)
        i = end + (end - start) % 2
