"""Knowing what image bytes are without decoding them, and decoding only within limits.

QtGui only (QImage works without a QGuiApplication, in any thread); never QtWidgets.
"""

from __future__ import annotations

import struct

# A picture bomb declares a size whose decoding would exhaust memory. We read the size from the header and refuse
# before anything is allocated. 4K output is at most ~16.8 Mpx; 8:1 at 4K is ~8192x1024.
MAX_IMAGE_PIXELS = 40_000_000
THUMBNAIL_EDGE = 320
QT_ALLOCATION_LIMIT_MB = 256

SUPPORTED_REFERENCE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}


class ImageFormatError(ValueError):
    pass


def sniff_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"mif1", b"msf1", b"heif"):
            return "image/heif"
    return None


def dimensions(data: bytes, mime: str | None = None) -> tuple[int, int]:
    """Width and height from the header alone. Raises ImageFormatError when the header is not readable."""
    mime = mime or sniff_mime(data)
    try:
        if mime == "image/png":
            if data[12:16] != b"IHDR":
                raise ImageFormatError("PNG without an IHDR header")
            return struct.unpack(">II", data[16:24])
        if mime == "image/jpeg":
            return _jpeg_dimensions(data)
        if mime == "image/webp":
            return _webp_dimensions(data)
        if mime == "image/gif":
            return struct.unpack("<HH", data[6:10])
    except (struct.error, IndexError) as exc:
        raise ImageFormatError("truncated image header") from exc
    raise ImageFormatError("not a PNG, JPEG, WebP or GIF image")


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ImageFormatError("corrupt JPEG marker")
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise ImageFormatError("JPEG without a frame header")


def _webp_dimensions(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageFormatError("corrupt WebP (VP8) header")
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ImageFormatError("corrupt WebP (VP8L) header")
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ImageFormatError("unknown WebP chunk")


def check_image(data: bytes, declared_mime: str | None = None) -> tuple[str, int, int]:
    """(mime, width, height) of bytes that claim to be an image, or ImageFormatError saying why not.

    Trusts the bytes, not the declared type: a mismatch is corrected, not fatal.
    """
    if not data:
        raise ImageFormatError("the image is empty")
    mime = sniff_mime(data)
    if mime is None or mime in ("image/heic", "image/heif"):
        raise ImageFormatError(f"the bytes are not an image Atelier can read (declared {declared_mime or 'nothing'})")
    width, height = dimensions(data, mime)
    if width <= 0 or height <= 0:
        raise ImageFormatError(f"the image declares an impossible size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFormatError(
            f"the image declares {width}x{height} pixels, over the limit of {MAX_IMAGE_PIXELS // 1_000_000} "
            "megapixels; it was not decoded"
        )
    return mime, width, height


def make_thumbnail(data: bytes, edge: int = THUMBNAIL_EDGE) -> bytes | None:
    """A JPEG no larger than edge x edge, or None when the image cannot be decoded. Call off the GUI thread."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize
    from PySide6.QtGui import QImage, QImageReader

    QImageReader.setAllocationLimit(QT_ALLOCATION_LIMIT_MB)
    source = QByteArray(data)
    buffer = QBuffer(source)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() > 0 and size.height() > 0:
        scale = min(1.0, edge / max(size.width(), size.height()))
        reader.setScaledSize(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))))
    image = reader.read()
    if image.isNull():
        return None
    if image.hasAlphaChannel():
        image = image.convertToFormat(QImage.Format.Format_RGB32)
    out = QByteArray()
    target = QBuffer(out)
    target.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(target, "JPEG", 85):
        return None
    return bytes(out.data())
