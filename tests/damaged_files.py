"""One file of every damaged or foreign kind we can make, written into a folder: for proving that a library (open,
rebuild, search) and every metadata reader go on past them.

`write_damaged_files(folder)` returns {name: path}; the names say what is wrong. `damaged_files()` gives the bytes.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from pathlib import Path

from tests import foreign_files as ff
from tests.helpers import PAINTER, bomb_png


def _atelier_record(**changes) -> dict:
    record = {
        "atelier": 1,
        "generation_id": "damaged-0001",
        "index": 0,
        "created_ts": 1_700_000_000.0,
        "model": "gemini-3.1-flash-image",
        "request": {"prompt": "a damaged record", "model": "gemini-3.1-flash-image"},
        "text": "",
    }
    record.update(changes)
    return record


def zlib_bomb(size: int) -> bytes:
    """A zlib stream of `size` zero bytes (a whole number of MiB), about 1000:1, made in milliseconds: after a full
    flush a block does not refer back, so one compressed MiB is repeated. It has no end (no reader gets there)."""
    packer = zlib.compressobj(9)
    block = b"\0" * (1 << 20)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    return first + again * ((size >> 20) - 1)


@functools.cache
def damaged_files() -> dict[str, bytes]:
    png = PAINTER.png("damaged", 24, 16)
    jpeg = PAINTER.png("damaged", 24, 16, fmt="JPEG")
    webp = PAINTER.png("damaged", 24, 16, fmt="WEBP")
    infotext = ff.a1111_infotext("a castle", "", ff.A1111_PARAMS)
    bomb = zlib_bomb(1 << 30)
    files = {
        # PNG text chunks
        "png-broken-ztxt.png": ff.png_with([ff.chunk(b"zTXt", b"parameters\0\0" + b"not zlib at all")], png),
        "png-cut-ztxt-stream.png": ff.png_with(
            [ff.chunk(b"zTXt", b"parameters\0\0" + zlib.compress(bytes(range(256)) * 8)[:100])]
        ),
        "png-short-itxt.png": ff.png_with([ff.chunk(b"iTXt", b"parameters\0\x01")], png),
        "png-itxt-unknown-compression.png": ff.png_with([ff.chunk(b"iTXt", b"parameters\0\x01\x07\0\0xyz")], png),
        "png-itxt-invalid-utf8.png": ff.png_with([ff.chunk(b"iTXt", b"parameters\0\0\0\0\0\xff\xfe\xc3(")], png),
        "png-text-bad-crc.png": ff.png_with([ff.chunk(b"tEXt", b"parameters\0" + infotext.encode(), crc=1)], png),
        "png-text-no-separator.png": ff.png_with([ff.chunk(b"tEXt", b"parameters" * 20)], png),
        "png-ztxt-bomb.png": ff.png_with([ff.chunk(b"zTXt", b"parameters\0\0" + bomb)], png),
        "png-itxt-bomb.png": ff.png_with([ff.chunk(b"iTXt", b"prompt\0\x01\0\0\0" + bomb)], png),
        "png-chunk-length-huge.png": ff.png_with([struct.pack(">I", 0x7FFFFFF0) + b"tEXtparameters\0x"], png),
        "png-chunk-name-garbage.png": ff.png_with([ff.chunk(b"\x00\x01\x02\x03", b"junk")], png),
        "png-cut-in-text-chunk.png": ff.png_with([ff.text_chunk("parameters", infotext)], png)[:60],
        "png-cut-after-ihdr.png": png[:33],
        "png-no-iend.png": png[:-12],
        # Atelier's own record, damaged
        "png-atelier-bad-json.png": ff.png_with([ff.itxt_chunk("atelier", '{"generation_id": "x", ')], png),
        "png-atelier-wrong-types.png": ff.png_with(
            [ff.itxt_chunk("atelier", json.dumps(_atelier_record(created_ts="yesterday", index="first", request=[])))],
            png,
        ),
        "png-atelier-not-a-dict.png": ff.png_with([ff.itxt_chunk("atelier", "[1, 2, 3]")], png),
        "png-atelier-deep-json.png": ff.png_with([ff.itxt_chunk("atelier", "[" * 100_000 + "]" * 100_000)], png),
        "png-atelier-huge-int.png": ff.png_with([ff.itxt_chunk("atelier", '{"generation_id": ' + "9" * 5000 + "}")]),
        # other tools' metadata, damaged
        "png-comfyui-not-json.png": ff.png_with([ff.text_chunk("prompt", "{this is not json")], png),
        "png-comfyui-odd-graph.png": ff.png_with(
            [ff.text_chunk("prompt", json.dumps({"1": {"inputs": {"positive": ["1", 0]}}, "2": [None]}))]
        ),
        "png-invokeai-wrong-types.png": ff.png_with(
            [ff.text_chunk("invokeai_metadata", json.dumps({"seed": [1], "model": 3, "width": "wide"}))]
        ),
        "png-fooocus-not-json.png": ff.png_with(
            [ff.text_chunk("parameters", "{oops"), ff.text_chunk("fooocus_scheme", "fooocus")]
        ),
        # JPEG segments and EXIF
        "jpeg-exif-garbage.jpg": ff.jpeg_with_app1(b"Exif\0\0" + b"\xde\xad\xbe\xef" * 10, jpeg),
        "jpeg-exif-offsets-outside.jpg": ff.jpeg_with_app1(b"Exif\0\0MM\0*\xff\xff\xff\xf0", jpeg),
        "jpeg-exif-ifd-loop.jpg": ff.jpeg_with_app1(
            b"Exif\0\0MM\0*\0\0\0\x08" + b"\0\x01" + struct.pack(">HHII", 0x8769, 4, 1, 8) + b"\0\0\0\0", jpeg
        ),
        "jpeg-exif-huge-count.jpg": ff.jpeg_with_app1(
            b"Exif\0\0II*\0\x08\0\0\0" + b"\x01\0" + struct.pack("<HHII", 0x9286, 7, 0xFFFFFFFF, 8) + b"\0" * 4, jpeg
        ),
        "jpeg-user-comment-odd-bytes.jpg": ff.jpeg_with_app1(
            b"Exif\0\0" + ff.tiff({}, {0x9286: (7, b"UNICODE\0\x00a\x00")}), jpeg
        ),
        "jpeg-segment-longer-than-file.jpg": jpeg[:2] + b"\xff\xe1\xff\xff" + b"Exif\0\0",
        "jpeg-segment-length-zero.jpg": jpeg[:2] + b"\xff\xfe\x00\x00" + jpeg[2:],
        "jpeg-cut-in-header.jpg": jpeg[:40],
        "jpeg-atelier-comment-bad-json.jpg": jpeg[:2] + b"\xff\xfe\x00\x13atelier-json:{{{{" + jpeg[2:],
        "jpeg-xmp-unclosed.jpg": ff.jpeg_with_app1(b"http://ns.adobe.com/xap/1.0/\0<dc:description><rdf:li>", jpeg),
        # WebP
        "webp-cut.webp": webp[: len(webp) // 2],
        "webp-riff-size-huge.webp": b"RIFF\xff\xff\xff\xffWEBP" + webp[12:],
        "webp-exif-garbage.webp": ff.webp_with_exif(b"MM\0*\0\0\0\x08\xff\xff", webp),
        "webp-chunk-size-huge.webp": webp[:12] + b"EXIF\xf0\xff\xff\xff" + webp[12:],
        # not images, or bombs
        "empty.png": b"",
        "text-named-png.png": b"just some text, not an image\n",
        "random-bytes.jpg": bytes(range(256)) * 4,
        "gif-too-short.gif": b"GIF89a\x01",
        "bomb-dimensions.png": bomb_png(),
        # other tools' good files, among the damaged ones
        "a1111.png": ff.a1111_png(),
        "a1111.jpg": ff.a1111_jpeg(),
        "comfyui.png": ff.comfyui_png(),
        "comfyui.webp": ff.comfyui_webp(),
        "invokeai.png": ff.invokeai_png(),
        "fooocus.png": ff.fooocus_png(),
    }
    return files


# Sidecars beside WebP images (WebP never gets embedded metadata).
SIDECARS = {
    "webp-sidecar-bad-json.webp": b"{not json",
    "webp-sidecar-wrong-types.webp": json.dumps(
        _atelier_record(generation_id="damaged-0002", created_ts="soon", index=[0], request="x", text={})
    ).encode(),
    "webp-sidecar-not-utf8.webp": b"\xff\xfe{\x00",
}


def write_damaged_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in damaged_files().items():
        (folder / name).write_bytes(data)
        written[name] = folder / name
    webp = PAINTER.png("sidecar", 24, 16, fmt="WEBP")
    for name, sidecar in SIDECARS.items():
        (folder / name).write_bytes(webp)
        (folder / (name + ".atelier.json")).write_bytes(sidecar)
        written[name] = folder / name
    return written
