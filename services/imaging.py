"""Knowing what image bytes are without decoding them, and decoding only within limits.

QtGui only (QImage works without a QGuiApplication, in any thread); never QtWidgets.
"""

from __future__ import annotations

import os
import struct
import threading

from services.containers import jpeg_segments

# A picture bomb declares a size whose decoding would exhaust memory. We read the size from the header and refuse
# before anything is allocated. 4K output is at most ~16.8 Mpx; 8:1 at 4K is ~8192x1024.
MAX_IMAGE_PIXELS = 40_000_000
THUMBNAIL_EDGE = 320
QT_ALLOCATION_LIMIT_MB = 256

SUPPORTED_REFERENCE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}


_PNG_IHDR_START = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"
_TWO_INTS = struct.Struct(">II").unpack_from


class ImageFormatError(ValueError):
    pass


_prepare_lock = threading.Lock()
_prepared = False


def prepare_qt() -> None:
    """Exercises every QtGui path the workers use, once per process, under a lock.

    PySide6 creates its types and converters lazily, and the first use of a class from two threads at once can
    crash the interpreter (seen here: a segfault in Shiboken's pythonToCppConversion building QColor in two
    emulator threads). Qt's image format plugins are QObjects that belong to the thread that first loads them;
    loaded from a worker while a QApplication exists they cause QObject::moveToThread warnings. So the objects
    that live on the main thread (Library, Emulator, Services) call this when they are built; workers call it
    too, in case.
    """
    global _prepared
    if _prepared:
        return
    with _prepare_lock:
        if _prepared:
            return
        import tempfile

        from PySide6.QtGui import QColor, QImage

        image = QImage(16, 16, QImage.Format.Format_ARGB32)
        image.fill(QColor(40, 90, 160, 200))
        with tempfile.TemporaryDirectory() as folder:
            for fmt in ("PNG", "JPEG", "WEBP"):  # loads each format plugin, for reading and writing
                source = os.path.join(folder, f"prepare.{fmt.lower()}")
                image.save(source, fmt)
                _thumbnail(source, os.path.join(folder, "thumb.jpg"), 8)
        _prepared = True


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
    """Width and height from the header alone. Raises ImageFormatError (and nothing else) when it is not readable."""
    mime = mime or sniff_mime(data)
    if mime == "image/png":
        if len(data) < 24 or data[8:16] != b"\0\0\0\x0dIHDR":
            raise ImageFormatError("PNG without an IHDR header")
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if mime == "image/jpeg":
        return _jpeg_dimensions(data)
    if mime == "image/webp":
        return _webp_dimensions(data)
    if mime == "image/gif":
        if len(data) < 10:
            raise ImageFormatError("truncated image header")
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    raise ImageFormatError("not a PNG, JPEG, WebP or GIF image")


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    for marker, start, end in jpeg_segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and end - start >= 5:
            height = int.from_bytes(data[start + 1 : start + 3], "big")
            width = int.from_bytes(data[start + 3 : start + 5], "big")
            return width, height
    raise ImageFormatError("JPEG without a frame header")


def _webp_dimensions(data: bytes) -> tuple[int, int]:
    """From the first chunk's first bytes (VP8X, VP8 or VP8L), as the old reader did; a cut body does not matter."""
    if len(data) < 30:
        raise ImageFormatError("truncated image header")
    kind, body = data[12:16], data[20:30]
    if kind == b"VP8X":
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    if kind == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            raise ImageFormatError("corrupt WebP (VP8) header")
        return int.from_bytes(body[6:8], "little") & 0x3FFF, int.from_bytes(body[8:10], "little") & 0x3FFF
    if kind == b"VP8L":
        if body[0] != 0x2F:
            raise ImageFormatError("corrupt WebP (VP8L) header")
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ImageFormatError("unknown WebP chunk")


def check_image(data: bytes, declared_mime: str | None = None) -> tuple[str, int, int]:
    """(mime, width, height) of bytes that claim to be an image, or ImageFormatError saying why not.

    Trusts the bytes, not the declared type: a mismatch is corrected, not fatal.
    """
    if data[:16] == _PNG_IHDR_START and len(data) >= 24:  # the usual case, what sniff_mime and dimensions find
        mime, (width, height) = "image/png", _TWO_INTS(data, 16)
    else:
        if not data:
            raise ImageFormatError("the image is empty")
        mime = sniff_mime(data)
        if mime is None or mime in ("image/heic", "image/heif"):
            declared = f", though declared {declared_mime}" if declared_mime else ""
            raise ImageFormatError(f"the bytes are not an image Atelier can read{declared}")
        width, height = dimensions(data, mime)
    if width <= 0 or height <= 0:
        raise ImageFormatError(f"the image declares an impossible size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFormatError(
            f"the image declares {width}x{height} pixels, over the limit of {MAX_IMAGE_PIXELS // 1_000_000} "
            "megapixels; it was not decoded"
        )
    return mime, width, height


def image_header(data: bytes) -> tuple[str, int, int] | None:
    """(mime, width, height) when the bytes are a readable PNG, JPEG, WebP or GIF of a sane size; else None."""
    try:
        return check_image(data)
    except ImageFormatError:
        return None


def make_thumbnail(source: str | os.PathLike, target: str | os.PathLike, edge: int = THUMBNAIL_EDGE) -> bool:
    """Writes a JPEG no larger than edge x edge to `target` (atomically); False when the image cannot be decoded.

    Blocking: call off the GUI thread. File paths rather than QBuffer: a QObject made in a worker thread trips
    PySide's thread affinity checks (seen here as QObject::moveToThread warnings once threads come and go).
    """
    prepare_qt()
    return _thumbnail(os.fspath(source), os.fspath(target), edge)


def _thumbnail(source: str, target: str, edge: int) -> bool:
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QImage, QImageReader

    QImageReader.setAllocationLimit(QT_ALLOCATION_LIMIT_MB)
    reader = QImageReader(source)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() > 0 and size.height() > 0:
        if size.width() * size.height() > MAX_IMAGE_PIXELS:
            return False
        scale = min(1.0, edge / max(size.width(), size.height()))
        reader.setScaledSize(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))))
    image = reader.read()
    if image.isNull():
        return False
    if image.hasAlphaChannel():
        image = image.convertToFormat(QImage.Format.Format_RGB32)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    tmp = f"{target}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        if not image.save(tmp, "JPEG", 85):
            return False
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def encode(image, fmt: str = "PNG", quality: int = -1) -> bytes:
    """A QImage's file bytes, through a temp file (no QBuffer in worker threads, see make_thumbnail)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix="." + fmt.lower())
    os.close(fd)
    try:
        if not image.save(tmp, fmt, quality):
            raise ImageFormatError(f"could not encode {fmt}")
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)
