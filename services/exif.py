"""EXIF, read and written only as far as generation metadata needs: the text tags of IFD0 and the Exif IFD.

EXIF is a TIFF structure (header, then linked IFDs of 12-byte entries) found in a JPEG APP1 segment after
`Exif\\0\\0`, a WebP `EXIF` chunk or a PNG `eXIf` chunk. Automatic1111 and Fooocus keep their text in UserComment
(0x9286, an 8-byte charset header then the text); ComfyUI keeps `prompt:{...}` and `workflow:{...}` in IFD0 strings.
Reading is total: a malformed structure yields what was read before it, and `problems` says what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.containers import MAX_TEXT_BYTES, note

IMAGE_DESCRIPTION = 0x010E
MAKE = 0x010F
MODEL = 0x0110
ORIENTATION = 0x0112
SOFTWARE = 0x0131
ARTIST = 0x013B
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
MAKER_NOTE = 0x927C
XP_COMMENT = 0x9C9C

TAG_NAMES = {
    IMAGE_DESCRIPTION: "ImageDescription",
    MAKE: "Make",
    MODEL: "Model",
    SOFTWARE: "Software",
    ARTIST: "Artist",
    USER_COMMENT: "UserComment",
    MAKER_NOTE: "MakerNote",
    XP_COMMENT: "XPComment",
}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_ENTRIES = 1000
EXIF_HEADER = b"Exif\0\0"

_ASCII_PREFIX = b"ASCII\0\0\0"
_UNICODE_PREFIX = b"UNICODE\0"
_JIS_PREFIX = b"JIS\0\0\0\0\0"
_UNDEFINED_PREFIX = b"\0" * 8


@dataclass
class Exif:
    little_endian: bool = False
    raw: dict[int, bytes] = field(default_factory=dict)  # text-carrying tags, first occurrence, undecoded
    orientation: int | None = None

    def texts(self) -> dict[str, str]:
        """The text tags decoded, by name (UserComment by its charset header, XPComment as UTF-16LE)."""
        out: dict[str, str] = {}
        for tag, raw in self.raw.items():
            if tag == USER_COMMENT:
                text = decode_user_comment(raw, self.little_endian)
            elif tag == XP_COMMENT:
                text = raw[: len(raw) // 2 * 2].decode("utf-16-le", errors="replace").rstrip("\0")
            else:
                text = raw.rstrip(b"\0").decode("utf-8", errors="replace")
            if text:
                out[TAG_NAMES[tag]] = text
        return out


def parse(data: bytes, problems: list[str] | None = None) -> Exif:
    """The text tags of IFD0 and the Exif IFD of a TIFF structure (with or without the `Exif\\0\\0` header)."""
    tiff = data[len(EXIF_HEADER) :] if data.startswith(EXIF_HEADER) else data
    exif = Exif()
    if tiff[:4] == b"II*\0":
        exif.little_endian = True
    elif tiff[:4] != b"MM\0*":
        note(problems, "EXIF without a TIFF header")
        return exif
    order = "little" if exif.little_endian else "big"
    seen: set[int] = set()
    pending = [int.from_bytes(tiff[4:8], order)]
    while pending:
        offset = pending.pop()
        if offset in seen or offset < 8 or offset + 2 > len(tiff):
            if offset not in seen:
                note(problems, "EXIF IFD offset outside the data")
            continue
        seen.add(offset)
        count = int.from_bytes(tiff[offset : offset + 2], order)
        if count > _MAX_ENTRIES:
            note(problems, "EXIF IFD with an impossible number of entries")
            continue
        for k in range(count):
            entry = offset + 2 + 12 * k
            if entry + 12 > len(tiff):
                note(problems, "EXIF IFD cut short")
                break
            tag = int.from_bytes(tiff[entry : entry + 2], order)
            kind = int.from_bytes(tiff[entry + 2 : entry + 4], order)
            length = int.from_bytes(tiff[entry + 4 : entry + 8], order) * _TYPE_SIZES.get(kind, 0)
            is_text = tag in TAG_NAMES and kind in (1, 2, 7) and tag not in exif.raw
            if not (is_text or tag in (EXIF_IFD, ORIENTATION)):
                continue  # nothing is sliced for a tag we do not read
            if length > MAX_TEXT_BYTES:
                note(problems, f"EXIF tag {tag:#06x} too large to read")
                continue
            if length <= 4:
                value = tiff[entry + 8 : entry + 8 + length]
            else:
                start = int.from_bytes(tiff[entry + 8 : entry + 12], order)
                if start + length > len(tiff):
                    note(problems, f"EXIF tag {tag:#06x} points outside the data")
                    continue
                value = tiff[start : start + length]
            if tag == EXIF_IFD and kind in (4, 13) and len(seen) < 2:
                pending.append(int.from_bytes(value[:4], order))
            elif tag == ORIENTATION and kind == 3 and len(value) >= 2:
                exif.orientation = int.from_bytes(value[:2], order)
            elif is_text:
                exif.raw[tag] = value
    return exif


def decode_user_comment(raw: bytes, little_endian_hint: bool = False) -> str:
    """UserComment's text: its 8-byte header names the charset (ASCII, UNICODE, JIS, undefined).

    UNICODE is UTF-16 in an order the standard leaves open: a byte-order mark wins; else the side where ASCII text
    has its zero bytes; else the TIFF's own byte order. Writers that skip the header (some do) get UTF-8.
    """
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE_PREFIX:
        body = body[: len(body) // 2 * 2]
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            text = body.decode("utf-16", errors="replace")
        else:
            zeros_high, zeros_low = body[0::2].count(0), body[1::2].count(0)
            little = zeros_low > zeros_high if zeros_low != zeros_high else little_endian_hint
            text = body.decode("utf-16-le" if little else "utf-16-be", errors="replace")
    elif prefix == _JIS_PREFIX:
        text = body.decode("shift_jis", errors="replace")
    elif prefix in (_ASCII_PREFIX, _UNDEFINED_PREFIX):
        text = body.decode("utf-8", errors="replace")
    else:
        text = raw.decode("utf-8", errors="replace")
    return text.rstrip("\0")


def user_comment_app1(text: str, orientation: int | None = None) -> bytes:
    """An APP1 body (`Exif\\0\\0` + big-endian TIFF) holding `text` as UserComment in UNICODE (UTF-16BE), the way
    Automatic1111 writes it through piexif, and the Orientation of the original EXIF when there was one."""
    comment = _UNICODE_PREFIX + text.encode("utf-16-be")
    ifd0_entries = 1 + (orientation is not None)
    ifd0_size = 2 + 12 * ifd0_entries + 4
    exif_ifd_offset = 8 + ifd0_size
    comment_offset = exif_ifd_offset + 2 + 12 + 4
    ifd0 = ifd0_entries.to_bytes(2, "big")
    if orientation is not None:
        ifd0 += _entry(ORIENTATION, 3, 1, orientation.to_bytes(2, "big") + b"\0\0")
    ifd0 += _entry(EXIF_IFD, 4, 1, exif_ifd_offset.to_bytes(4, "big")) + b"\0\0\0\0"
    exif_ifd = (1).to_bytes(2, "big") + _entry(USER_COMMENT, 7, len(comment), comment_offset.to_bytes(4, "big"))
    exif_ifd += b"\0\0\0\0"
    return EXIF_HEADER + b"MM\0*" + (8).to_bytes(4, "big") + ifd0 + exif_ifd + comment


def _entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
    return tag.to_bytes(2, "big") + kind.to_bytes(2, "big") + count.to_bytes(4, "big") + value
