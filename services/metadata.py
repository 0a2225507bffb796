"""What made an image, written into the image file itself (or a sidecar), and read back for a rebuild.

PNG: a `parameters` text chunk in the Automatic1111 style (prompt first, then `Key: value, ...`), which other tools
read, and an `atelier` iTXt chunk with the full request as JSON. JPEG: the same two texts as COM segments. WebP and
any file carrying a C2PA manifest are kept byte for byte and the metadata goes to `<file>.atelier.json`, because
inserting chunks would break the manifest's signature (and WebP needs its header rewritten to take one).
"""

from __future__ import annotations

import json
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JSON_KEYWORD = "atelier"
PARAMETERS_KEYWORD = "parameters"
JPEG_JSON_PREFIX = b"atelier-json:"
SIDECAR_SUFFIX = ".atelier.json"


def parameters_text(record: dict, width: int, height: int) -> str:
    request = record.get("request", {})
    fields = [("Model", record.get("model") or request.get("model")), ("Size", f"{width}x{height}")]
    fields += [
        ("Aspect ratio", request.get("aspect_ratio")),
        ("Image size", request.get("size")),
        ("Seed", request.get("seed")),
        ("Person generation", request.get("person_generation")),
        ("Reference images", len(request.get("references") or []) or None),
        ("Generation", record.get("generation_id")),
        ("Generator", record.get("generator")),
    ]
    parts = []
    for name, value in fields:
        if value is None or value == "":
            continue
        text = str(value)
        if "," in text:
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{name}: {text}")
    return f"{request.get('prompt', '')}\n" + ", ".join(parts)


def has_c2pa(data: bytes, mime: str) -> bool:
    if mime == "image/png":
        return any(kind == b"caBX" for kind, _, _ in _png_chunks(data))
    if mime == "image/jpeg":
        return any(marker == 0xEB for marker, _, _ in _jpeg_segments(data))
    if mime == "image/webp":
        return b"C2PA" in data[12:4096] or b"c2pa" in data[12:4096]
    return False


def can_embed(data: bytes, mime: str) -> bool:
    return mime in ("image/png", "image/jpeg") and not has_c2pa(data, mime)


def embed(data: bytes, mime: str, record: dict, width: int, height: int) -> bytes:
    """The same image with the metadata inside. Only for can_embed() files; the pixel data is untouched."""
    params = parameters_text(record, width, height)
    payload = json.dumps(record, ensure_ascii=False, sort_keys=True)
    if mime == "image/png":
        return _png_insert(data, [_png_text_chunk(PARAMETERS_KEYWORD, params), _png_itxt_chunk(JSON_KEYWORD, payload)])
    if mime == "image/jpeg":
        segments = [params.encode("utf-8"), JPEG_JSON_PREFIX + payload.encode("utf-8")]
        if any(len(s) > 65533 for s in segments):
            raise ValueError("metadata too long for a JPEG comment")
        return _jpeg_insert(data, segments)
    raise ValueError(f"cannot embed metadata in {mime}")


def sidecar_bytes(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def read_embedded(data: bytes) -> dict | None:
    """The `atelier` JSON record inside a PNG or JPEG, or None."""
    try:
        if data.startswith(PNG_SIGNATURE):
            texts = png_texts(data)
            raw = texts.get(JSON_KEYWORD)
            return json.loads(raw) if raw else None
        if data.startswith(b"\xff\xd8"):
            for marker, start, end in _jpeg_segments(data):
                body = data[start:end]
                if marker == 0xFE and body.startswith(JPEG_JSON_PREFIX):
                    return json.loads(body[len(JPEG_JSON_PREFIX) :].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, struct.error):
        return None
    return None


def png_texts(data: bytes) -> dict[str, str]:
    texts: dict[str, str] = {}
    for kind, start, end in _png_chunks(data):
        body = data[start:end]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, method = rest[0], rest[1]
            rest = rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _translated, _, value = rest.partition(b"\0")
            if compressed and method == 0:
                value = zlib.decompress(value)
            texts[key.decode("latin-1")] = value.decode("utf-8")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            texts[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
    return texts


def _png_chunks(data: bytes):
    if not data.startswith(PNG_SIGNATURE):
        return
    i = 8
    n = len(data)
    while i + 8 <= n:
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        start = i + 8
        end = start + length
        if end + 4 > n:
            return
        yield kind, start, end
        if kind == b"IEND":
            return
        i = end + 4


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_text_chunk(keyword: str, text: str) -> bytes:
    try:
        return _png_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_itxt_chunk(keyword, text)


def _png_itxt_chunk(keyword: str, text: str) -> bytes:
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def _png_insert(data: bytes, chunks: list[bytes]) -> bytes:
    for kind, start, _end in _png_chunks(data):
        if kind == b"IDAT":
            at = start - 8
            return data[:at] + b"".join(chunks) + data[at:]
    raise ValueError("PNG without image data")


def _jpeg_segments(data: bytes):
    """(marker, body start, body end) for each header segment, up to the start of scan."""
    if not data.startswith(b"\xff\xd8"):
        return
    i = 2
    n = len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        yield marker, i + 4, i + 2 + length
        if marker == 0xDA:
            return
        i += 2 + length


def _jpeg_insert(data: bytes, comments: list[bytes]) -> bytes:
    at = 2
    for marker, _start, end in _jpeg_segments(data):
        if 0xE0 <= marker <= 0xEF:
            at = end
        else:
            break
    segments = b"".join(b"\xff\xfe" + struct.pack(">H", len(c) + 2) + c for c in comments)
    return data[:at] + segments + data[at:]
