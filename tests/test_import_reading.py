"""The per-file read of the import (services/import_reading.py) gives the same rows whichever way they are made: the
shortest way for a PNG with only an A1111 infotext (metadata._parameters_only), the general way (read_info's
read_texts + from_texts) for everything else, and the inline PNG chunk walk (containers.png_texts) as the walk over
png_chunks that it replaced."""

from __future__ import annotations

import functools
import json
import math
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import containers, imaging, import_reading, interop, metadata
from services.errors import UnreadableFile
from tests import foreign_files as ff
from tests.damaged_files import SIDECARS, damaged_files
from tests.helpers import PAINTER

pytestmark = pytest.mark.timeout(120)

ATELIER_RECORD = {
    "atelier": 1,
    "generation_id": "g-kinds-1",
    "index": 0,
    "created_ts": 1_700_000_123.5,
    "model": "gemini-3.1-flash-image",
    "request": {"prompt": "a fox, at dusk", "model": "gemini-3.1-flash-image", "seed": 3, "aspect_ratio": "1:1"},
}
NO_SIZE = {k: v for k, v in ff.A1111_PARAMS.items() if k != "Size"}


def before_iend(png: bytes, *chunks: bytes) -> bytes:
    """Text after the image data, where A1111 (and PNG) may put it too."""
    return png[:-12] + b"".join(chunks) + png[-12:]


@functools.cache
def every_kind() -> dict[str, bytes]:
    """One file of every kind the import meets: each tool's (tests/foreign_files.py), Atelier's own, none, damaged."""
    png = PAINTER.png("kinds", 24, 16)
    jpeg = PAINTER.png("kinds", 24, 16, fmt="JPEG")
    webp = PAINTER.png("kinds", 24, 16, fmt="WEBP")
    infotext = ff.a1111_infotext("a castle, on a hill\nsecond line", "blurry, lowres", ff.A1111_PARAMS)
    plain = ff.a1111_infotext("a lighthouse", "", {"Steps": "20", "Sampler": "Euler a", "CFG scale": "7", "Seed": "9"})
    a1111 = ff.a1111_png()
    files = {
        "a1111-text-before-idat.png": a1111,
        "a1111-text-after-idat.png": before_iend(png, ff.text_chunk("parameters", infotext)),
        "a1111-itxt.png": ff.a1111_png(prompt="夕暮れの灯台 — «phare»"),  # not Latin-1: PIL writes iTXt
        "a1111-itxt-compressed.png": ff.png_with([ff.itxt_chunk("parameters", infotext, compressed=True)], png),
        "a1111-ztxt.png": ff.png_with([ff.ztxt_chunk("parameters", infotext)], png),
        "a1111-ztxt-after-idat.png": before_iend(png, ff.ztxt_chunk("parameters", infotext)),
        "a1111-no-size.png": ff.png_with([ff.text_chunk("parameters", ff.a1111_infotext("p", "n", NO_SIZE))], png),
        "a1111-unquoted-plain.png": ff.png_with([ff.text_chunk("parameters", plain)], png),
        "a1111-odd-values.png": ff.png_with(
            [ff.text_chunk("parameters", "x\nSteps: many, Seed: 1e3, CFG scale: nan, Size: 0x5, Model: , Sampler: a")]
        ),
        "a1111-prompt-only.png": ff.png_with([ff.text_chunk("parameters", "just a prompt, no settings")], png),
        "a1111-negative-only.png": ff.png_with([ff.text_chunk("parameters", "Negative prompt: ugly")], png),
        "a1111-empty.png": ff.png_with([ff.text_chunk("parameters", "")], png),
        "a1111-blank.png": ff.png_with([ff.text_chunk("parameters", " \n\t ")], png),
        "a1111-padded.png": ff.png_with(
            [ff.text_chunk("parameters", "\n  a castle \nSteps: 1, Seed: 2, Size: 3x4 \n")]
        ),
        "a1111-with-software.png": ff.png_with(
            [ff.text_chunk("parameters", infotext), ff.text_chunk("Software", "Stable Diffusion")], png
        ),
        "a1111-with-exif.png": ff.png_with(
            [ff.text_chunk("parameters", infotext), ff.chunk(b"eXIf", ff.tiff({0x010E: (2, b"desc\0")}, {}))], png
        ),
        "a1111-twice.png": ff.png_with(
            [ff.text_chunk("parameters", "first\nSteps: 1, Seed: 1, Size: 1x1"), ff.text_chunk("parameters", infotext)]
        ),
        "a1111-text-bad-crc-then-good.png": ff.png_with(
            [ff.chunk(b"tEXt", b"Comment\0x", crc=7), ff.text_chunk("parameters", infotext)], png
        ),
        "a1111-keyword-80-bytes.png": ff.png_with([ff.chunk(b"tEXt", b"p" * 80 + b"\0" + infotext.encode())], png),
        "a1111-keyword-empty.png": ff.png_with([ff.chunk(b"tEXt", b"\0" + infotext.encode())], png),
        "a1111-parameters-other-case.png": ff.png_with([ff.text_chunk("Parameters", infotext)], png),
        "a1111.jpg": ff.a1111_jpeg(),
        "a1111-little-endian-utf16le.jpg": ff.a1111_jpeg(little=True, encoding="utf-16-le"),
        "a1111.webp": ff.webp_with_exif(ff.a1111_exif(infotext)[6:], webp),
        "comfyui.png": ff.comfyui_png(),
        "comfyui-workflow-only.png": ff.png_with([ff.text_chunk("workflow", json.dumps(ff.COMFYUI_WORKFLOW))], png),
        "comfyui.webp": ff.comfyui_webp(),
        "invokeai.png": ff.invokeai_png(),
        "fooocus.png": ff.fooocus_png(),
        "fooocus-without-scheme.png": ff.png_with([ff.text_chunk("parameters", json.dumps(ff.FOOOCUS_METADATA))]),
        "fooocus-infotext.png": ff.png_with(
            [ff.text_chunk("parameters", infotext), ff.text_chunk("fooocus_scheme", "a1111")], png
        ),
        "atelier.png": metadata.embed(png, "image/png", ATELIER_RECORD, 24, 16),
        "atelier.jpg": metadata.embed(jpeg, "image/jpeg", ATELIER_RECORD, 24, 16),
        "no-metadata.png": png,
        "no-metadata.jpg": jpeg,
        "no-metadata.webp": webp,
        "cut-in-iend.png": a1111[:-6],
        "cut-before-iend.png": a1111[:-12],
        "cut-in-idat.png": a1111[: len(a1111) - 30],
        "cut-after-text.png": a1111[: 33 + 12 + len(infotext) + 5],
        "cut-in-text.png": a1111[:60],
    }
    files.update(damaged_files())
    return files


def write_every_kind(folder) -> list[tuple]:
    """The files written into `folder`, as the import's (path, key, folder_id, sidecar_of) items; an A1111 PNG and
    the WebPs of damaged_files.SIDECARS get an Atelier sidecar beside them."""
    items = []
    for name, data in every_kind().items():
        (folder / name).write_bytes(data)
        items.append((folder / name, str(folder / name), "folder-1", None))
    sidecar = json.dumps(dict(ATELIER_RECORD, generation_id="g-sidecar")).encode()
    sidecars = {**SIDECARS, "a1111-with-sidecar.png": sidecar, "webp-good-sidecar.webp": sidecar}
    for name, body in sidecars.items():
        (folder / name).write_bytes(
            every_kind()["a1111-text-before-idat.png" if name.endswith(".png") else "a1111.webp"]
        )
        (folder / (name + metadata.SIDECAR_SUFFIX)).write_bytes(body)
        items.append((folder / name, str(folder / name), "folder-1", folder / name))
    return items


def general_only(monkeypatch) -> None:
    monkeypatch.setattr(metadata, "_parameters_only", lambda *args: None)


def takes_the_short_way(data: bytes) -> bool:
    problems: list[str] = []
    png_walk = (containers.png_texts(data, problems, exif := []), exif)
    return data.startswith(containers.PNG_SIGNATURE) and metadata._parameters_only(data, png_walk, problems) is not None


def test_every_kind_of_file_gives_the_same_rows_by_the_short_way_as_by_the_general_way(tmp_path, monkeypatch):
    items = write_every_kind(tmp_path)
    rows, failed = import_reading.read_rows(items)
    general_only(monkeypatch)
    assert import_reading.read_rows(items) == (rows, failed)
    # not vacuous: most files are read, the truncated and damaged ones too, with the sources they should have
    by_name = {Path(image[1]).name: (generation, image) for generation, image in rows}
    assert len(rows) >= 60 and {Path(path).name for path, _ in failed} == {
        "empty.png", "text-named-png.png", "random-bytes.jpg", "gif-too-short.gif", "bomb-dimensions.png",
        "jpeg-cut-in-header.jpg", "jpeg-segment-longer-than-file.jpg", "jpeg-segment-length-zero.jpg",
        "webp-chunk-size-huge.webp",
    }  # fmt: skip
    sources = {name: generation[7] for name, (generation, _) in by_name.items()}
    assert {sources[n] for n in by_name if n.startswith("a1111-text") or n.startswith("a1111-z")} == {"a1111"}
    assert sources["a1111-with-sidecar.png"] == sources["webp-good-sidecar.webp"] == "atelier"
    assert sources["fooocus-without-scheme.png"] == "fooocus" and sources["comfyui.webp"] == "comfyui"
    after_idat = json.loads(by_name["a1111-text-after-idat.png"][0][5])
    assert after_idat["seed"] == 1234567890 and after_idat["cfg"] == 6.5 and after_idat["parameters"]["Steps"] == "28"


@pytest.mark.parametrize("name", sorted(every_kind()))
def test_read_info_is_the_same_by_the_short_way(name, monkeypatch):
    data = every_kind()[name]
    short = metadata.read_info(data, name)
    general_only(monkeypatch)
    assert short == metadata.read_info(data, name)


# Not a1111-twice.png: two texts go the general way, where the last one wins; nor a negative prompt alone.
SHORT_WAY = {
    "a1111-text-before-idat.png", "a1111-text-after-idat.png", "a1111-itxt.png", "a1111-itxt-compressed.png",
    "a1111-ztxt.png", "a1111-ztxt-after-idat.png", "a1111-no-size.png", "a1111-unquoted-plain.png",
    "a1111-odd-values.png", "a1111-prompt-only.png", "a1111.png", "png-itxt-invalid-utf8.png", "a1111-padded.png",
}  # fmt: skip


def test_the_short_way_takes_the_files_it_is_for_and_no_other():
    taken = {name for name, data in every_kind().items() if takes_the_short_way(data)}
    assert taken == SHORT_WAY


def chunk_walk_png_texts(data: bytes, problems: list[str], exif: list[bytes]) -> list[tuple[str, str]]:
    """containers.png_texts as it was before its walk was written inline: the reference it must read like."""
    texts: list[tuple[str, str]] = []
    budget = containers.MAX_TOTAL_TEXT_BYTES
    view = memoryview(data)
    for chunk in containers.png_chunks(data, problems):
        kind = chunk.kind
        if kind == b"eXIf" and not exif:
            exif.append(data[chunk.start : chunk.end])
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        name = kind.decode("ascii")
        if not containers.png_crc_ok(data, chunk):
            containers.note(problems, f"PNG {name} chunk with a wrong CRC")
            continue
        parsed = containers._png_text(kind, view[chunk.start : chunk.end], min(containers.MAX_TEXT_BYTES, budget))
        if parsed is None:
            containers.note(problems, f"unreadable PNG {name} chunk")
            continue
        budget -= len(parsed[1])
        texts.append(parsed)
    return texts


def assert_walks_agree(data: bytes) -> None:
    problems, exif, reference_problems, reference_exif = [], [], [], []
    texts = containers.png_texts(data, problems, exif)
    assert texts == chunk_walk_png_texts(data, reference_problems, reference_exif)
    assert (problems, exif) == (reference_problems, reference_exif)


@pytest.mark.parametrize("name", sorted(every_kind()))
def test_the_inline_png_walk_reads_what_the_chunk_walk_reads(name):
    assert_walks_agree(every_kind()[name])


@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"IDAT", b"IEND", b"t\0Xt"]),
            st.one_of(
                st.binary(max_size=120),
                st.builds(
                    lambda k, t: k + b"\0" + t, st.sampled_from([b"parameters", b"", b"p" * 79, b"p" * 80]), st.binary()
                ),
                st.builds(lambda k, z: k + b"\0\0" + z, st.just(b"parameters"), st.binary().map(zlib.compress)),
                st.builds(lambda z: b"k\0\x01\0en\0\0" + z, st.binary().map(zlib.compress)),
            ),
            st.one_of(st.none(), st.sampled_from([0, 1, 12, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF])),
            st.booleans(),
        ),
        max_size=4,
    ),
    st.integers(0, 40),
)
def test_the_inline_png_walk_reads_what_the_chunk_walk_reads_in_any_bytes(chunks, cut):
    made = [ff.chunk(kind, body, None if good_crc else 1, length) for kind, body, length, good_crc in chunks]
    data = ff.png_with(made, every_kind()["no-metadata.png"])
    assert_walks_agree(data)
    assert_walks_agree(data[: len(data) - cut])


def reference_check_image(data: bytes) -> tuple[str, int, int] | None:
    """imaging.image_header before check_image's PNG shortcut: by sniff_mime and dimensions."""
    mime = imaging.sniff_mime(data) if data else None
    if mime is None or mime in ("image/heic", "image/heif"):
        return None
    try:
        width, height = imaging.dimensions(data, mime)
    except imaging.ImageFormatError:
        return None
    return (mime, width, height) if width > 0 and height > 0 and width * height <= imaging.MAX_IMAGE_PIXELS else None


def test_the_png_shortcut_of_check_image_finds_what_the_general_way_finds():
    for name, data in every_kind().items():
        for cut in (None, 24, 23):
            assert imaging.image_header(data[:cut]) == reference_check_image(data[:cut]), (name, cut)


def reference_float(value) -> float | None:
    """interop._float before its shortcut for text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


@given(st.one_of(st.text(alphabet="0123456789.eE+-_ naifINFxX\t\u2003\u0660\x1c", max_size=12), st.text(max_size=8)))
def test_the_text_shortcut_of_float_reads_what_the_general_way_reads(text):
    assert interop._float(text) == reference_float(text)


@pytest.mark.parametrize(
    "params",
    [
        {"prompt": "a castle", "seed": 1234567890, "cfg": 6.5, "parameters": {"Steps": "28"}, "file": "a.png"},
        {"prompt": '夕暮れの灯台 — «phare» \u2028 "quoted" \\ \n', "seed": None, "cfg": 1e16, "file": "é.png"},
        {"prompt": "", "file": "bad-\udcff-name.png"},  # os.fsdecode's escape for a byte that is not UTF-8
        {"prompt": "x", "seed": 2**70, "file": "big.png"},  # a seed beyond 64 bits
        {"prompt": "lone \ud800 surrogate from a JSON graph", "file": "c.png"},
    ],
)
def test_params_json_decodes_to_the_same_dict_as_json_s_encoding(params):
    encoded = import_reading.params_json(params)
    assert isinstance(encoded, str)
    assert json.loads(encoded) == params == json.loads(json.dumps(params, ensure_ascii=False))


@pytest.mark.parametrize("read_ahead", [1, 3000, 8 * 2**20])
def test_the_files_read_ahead_of_their_parsing_give_what_each_file_read_alone_gives(tmp_path, monkeypatch, read_ahead):
    """read_rows reads up to READ_AHEAD_BYTES of files before parsing them: one at a time, a few, or all of them
    give the rows and failures, in order, that read_row gives file by file."""
    items = write_every_kind(tmp_path)
    alone_rows, alone_failed = [], []
    for path, key, folder_id, sidecar in items:
        try:
            alone_rows.append(import_reading.read_row(path, key, folder_id, sidecar))
        except UnreadableFile as exc:
            alone_failed.append((str(path), str(exc)))
    monkeypatch.setattr(import_reading, "READ_AHEAD_BYTES", read_ahead)
    assert import_reading.read_rows(items) == (alone_rows, alone_failed) and len(alone_failed) == 9
