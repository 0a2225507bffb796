"""No bytes make a metadata or header reader raise, hang or allocate without bound.

The readers are called directly here, not through read_info's last-resort guard, so a reader that raises fails the
test; the guard itself is checked to stay silent. Examples per property: the `ci` profile in conftest.py.
"""

import json
import logging
import sqlite3
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import containers, exif, imaging, interop, metadata
from tests import foreign_files as ff
from tests.damaged_files import damaged_files
from tests.damaged_files import zlib_bomb as zlib_bomb_of
from tests.helpers import PAINTER

pytestmark = pytest.mark.timeout(120)


class _Errors(logging.Handler):
    """Collects what read_info's guard logs (it logs only when a reader raised: a bug)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


ERRORS = _Errors()
logging.getLogger("services.metadata").addHandler(ERRORS)


def read_everything(data: bytes) -> dict[str, str]:
    problems: list[str] = []
    for walk in (containers.png_chunks, containers.jpeg_segments, containers.riff_chunks):
        for kind, start, end in walk(data, problems):
            assert 0 <= start <= end <= len(data) and kind is not None
    containers.png_texts(data, problems)
    exif.parse(data, problems).texts()
    texts = metadata.read_texts(data, problems)
    record = metadata.read_embedded(data)
    interop.from_texts(texts, record, problems)
    header = imaging.image_header(data)
    try:
        assert imaging.dimensions(data) is not None
    except imaging.ImageFormatError:
        assert header is None
    ERRORS.records.clear()
    info = metadata.read_info(data, "fuzzed")
    assert ERRORS.records == [] and info.source in interop.SOURCES
    assert len(problems) <= 200
    return texts


def samples() -> dict[str, bytes]:
    """Real files: Atelier's writer (PNG, JPEG), and files made as A1111, ComfyUI, InvokeAI and Fooocus make them."""
    record = {
        "atelier": 1,
        "generation_id": "g-1",
        "index": 0,
        "model": "gemini-3.1-flash-image",
        "request": {"prompt": "a fox, at dusk", "model": "gemini-3.1-flash-image", "seed": 3, "aspect_ratio": "1:1"},
    }
    small_png = PAINTER.png("s", 12, 8)
    small_jpeg = PAINTER.png("s", 12, 8, fmt="JPEG")
    return {
        "atelier.png": metadata.embed(small_png, "image/png", record, 12, 8),
        "atelier.jpg": metadata.embed(small_jpeg, "image/jpeg", record, 12, 8),
        "a1111.png": ff.a1111_png(),
        "a1111.jpg": ff.a1111_jpeg(),
        "a1111-ztxt.png": ff.png_with([ff.ztxt_chunk("parameters", ff.a1111_infotext("p", "n", ff.A1111_PARAMS))]),
        "comfyui.png": ff.comfyui_png(),
        "comfyui.webp": ff.comfyui_webp(),
        "invokeai.png": ff.invokeai_png(),
        "fooocus.png": ff.fooocus_png(),
    }


SAMPLES = samples()


def test_the_samples_carry_what_they_should():
    sources = {name: metadata.read_info(data).source for name, data in SAMPLES.items()}
    assert sources == {name: name.split(".")[0].split("-")[0] for name in SAMPLES}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_files_cut_at_every_length(name):
    data = SAMPLES[name]
    for length in range(len(data) + 1):
        read_everything(data[:length])


@pytest.mark.parametrize("name", sorted(damaged_files()))
def test_every_damaged_file(name):
    read_everything(damaged_files()[name])


@given(st.binary(max_size=4096))
def test_random_bytes(data):
    read_everything(data)


PREFIXES = [
    containers.PNG_SIGNATURE,
    containers.PNG_SIGNATURE + b"\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0\0\0\0\0",
    b"\xff\xd8",
    b"\xff\xd8\xff\xe1\x00\x40Exif\0\0MM\0*\0\0\0\x08",
    b"\xff\xd8\xff\xe1\x00\x40Exif\0\0II*\0\x08\0\0\0",
    b"RIFF\x00\x10\x00\x00WEBP",
    b"RIFF\x00\x10\x00\x00WEBPVP8X\x0a\0\0\0",
    b"Exif\0\0MM\0*\0\0\0\x08",
    b"GIF89a",
]


@given(st.sampled_from(PREFIXES), st.binary(max_size=2048))
def test_random_bytes_behind_a_real_header(prefix, rest):
    read_everything(prefix + rest)


@given(st.sampled_from(sorted(SAMPLES)), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=12))
def test_real_files_with_bytes_changed(name, changes):
    data = bytearray(SAMPLES[name])
    for position, value in changes:
        data[position % len(data)] = value
    read_everything(bytes(data))


LENGTHS = st.sampled_from([0, 1, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 12, 13])


@given(
    st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"IDAT", b"IHDR", b"IEND", b"caBX"]),
    st.one_of(
        st.binary(max_size=300),
        st.builds(lambda k, t: k + b"\0" + t, st.sampled_from([b"parameters", b"prompt", b"atelier"]), st.binary()),
        st.builds(lambda k, z: k + b"\0\0" + z, st.just(b"parameters"), st.binary().map(zlib.compress)),
    ),
    st.one_of(st.none(), LENGTHS),
    st.booleans(),
)
def test_png_chunks_with_wrong_lengths_crcs_and_compression(kind, body, length, good_crc):
    crc = None if good_crc else zlib.crc32(body) ^ 0xDEAD
    read_everything(ff.png_with([ff.chunk(kind, body, crc=crc, length=length)], SAMPLES["atelier.png"]))


@given(
    st.sampled_from([0xE1, 0xFE, 0xEB, 0xC0, 0xDA, 0xD9, 0x00, 0xFF]), st.binary(max_size=300), st.integers(0, 0xFFFF)
)
def test_jpeg_segments_with_wrong_lengths(marker, body, length):
    jpeg = SAMPLES["a1111.jpg"]
    read_everything(jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", length) + body + jpeg[2:])


@given(
    st.booleans(),
    st.lists(
        st.tuples(
            st.sampled_from([0x9286, 0x8769, 0x010E, 0x010F, 0x0110, 0x0112, 0x9C9C, 0x927C]),
            st.integers(0, 13),
            st.sampled_from([0, 1, 4, 5, 0xFFFF, 0xFFFFFFFF]),
            st.integers(0, 0xFFFFFFFF),
        ),
        max_size=6,
    ),
    st.binary(max_size=200),
)
def test_exif_with_wrong_types_counts_and_offsets(little, entries, tail):
    order = "<" if little else ">"
    ifd = struct.pack(order + "H", len(entries))
    ifd += b"".join(struct.pack(order + "HHII", *entry) for entry in entries) + b"\0\0\0\0"
    tiff = (b"II*\0" if little else b"MM\0*") + struct.pack(order + "I", 8) + ifd + tail
    read_everything(ff.jpeg_with_app1(b"Exif\0\0" + tiff, SAMPLES["atelier.jpg"]))
    read_everything(ff.webp_with_exif(tiff, PAINTER.png("w", 8, 8, fmt="WEBP")))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
NODE_IDS = st.sampled_from(["1", "2", "3", "10", "x", "²", "١", "0" * 30, "", " 7"])
COMFY_NODE = st.fixed_dictionaries(
    {
        "class_type": st.sampled_from(["KSampler", "CLIPTextEncode", "ConditioningCombine", "Custom", 3]),
        "inputs": st.dictionaries(
            st.sampled_from(["positive", "negative", "text", "seed", "model", "latent_image", "width", "ckpt_name"]),
            st.one_of(st.tuples(NODE_IDS, st.integers(0, 2)).map(list), JSON),
            max_size=6,
        ),
    }
)


@given(st.dictionaries(NODE_IDS, st.one_of(COMFY_NODE, JSON), max_size=6))
def test_comfyui_graphs_of_any_shape(graph):
    info = interop.from_texts({"prompt": json.dumps(graph)})
    assert info.source == "comfyui"


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "parameters",
                "prompt",
                "workflow",
                "invokeai_metadata",
                "sd-metadata",
                "fooocus_scheme",
                "exif:UserComment",
                "exif:Model",
                "exif:MakerNote",
                "xmp:description",
                "comment",
                "Description",
            ]
        ),
        st.one_of(
            st.text(max_size=200), JSON.map(json.dumps), st.sampled_from(["prompt:{", "{", "Steps: 1, a: b, c: d"])
        ),
        max_size=6,
    )
)
def test_interop_on_any_texts(texts):
    info = interop.from_texts(texts)
    assert info.source in interop.SOURCES
    assert all(isinstance(v, str) for v in info.parameters.values())
    assert info.seed is None or isinstance(info.seed, int)


@given(
    JSON
    | st.fixed_dictionaries(
        {"generation_id": JSON},
        optional={"created_ts": JSON, "index": JSON, "request": JSON, "text": JSON, "endpoint": JSON, "model": JSON},
    )
)
def test_an_atelier_record_the_library_can_always_index(value):
    record = metadata.atelier_record(value)
    if record is None:
        return
    request = record["request"]
    # What the library's rebuild does with a record, on a real SQLite table: none of it may raise.
    row = (
        record["generation_id"],
        float(record.get("created_ts") or 1.0),
        str(request.get("prompt", "")),
        str(record.get("model") or "unknown"),
        record.get("endpoint"),
        json.dumps(request),
        record.get("text") or "",
        request.get("protocol"),
        int(record.get("index") or 0),
    )
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE g(id, created, prompt, model, endpoint, params, text, protocol, idx)")
        db.execute("INSERT INTO g VALUES (?,?,?,?,?,?,?,?,?)", row)


# --- bombs: memory stays bounded --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zlib_bomb():
    """1 GiB of zeros, compressed to about 1 MB (see damaged_files.zlib_bomb)."""
    return zlib_bomb_of(1 << 30)


def peak_while(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "chunk",
    [
        lambda bomb: ff.chunk(b"zTXt", b"parameters\0\0" + bomb),
        lambda bomb: ff.chunk(b"iTXt", b"parameters\0\x01\0\0\0" + bomb),
        lambda bomb: ff.chunk(b"iTXt", b"atelier\0\x01\0\0\0" + bomb),
    ],
    ids=["ztxt", "itxt", "atelier-itxt"],
)
def test_a_decompression_bomb_in_a_text_chunk_stays_within_the_cap(zlib_bomb, chunk):
    data = ff.png_with([chunk(zlib_bomb)], SAMPLES["a1111.png"])
    found = {}
    peak = peak_while(lambda: found.update(info=metadata.read_info(data, "bomb")))
    assert peak < 3 * containers.MAX_TEXT_BYTES + 2 * len(data)  # not the gigabyte the chunk would inflate to
    assert found["info"].source == "a1111"  # the file's other, sane chunk is still read


def test_declared_sizes_are_checked_before_anything_is_allocated():
    huge_count = b"Exif\0\0MM\0*\0\0\0\x08\0\x01" + struct.pack(">HHII", 0x9286, 7, 0xFFFFFFFF, 26) + b"\0" * 4
    cases = [
        ff.jpeg_with_app1(huge_count, SAMPLES["a1111.jpg"]),
        ff.png_with([struct.pack(">I", 0x7FFFFFFF) + b"tEXtparameters\0"], SAMPLES["a1111.png"]),
        b"RIFF\xff\xff\xff\xffWEBPEXIF\xff\xff\xff\x7f" + b"\0" * 64,
        SAMPLES["a1111.jpg"][:2] + b"\xff\xfe\xff\xff" + b"\0" * 64,
    ]
    for data in cases:
        assert peak_while(lambda data=data: read_everything(data)) < 4 * 1024 * 1024


def test_many_tiny_segments_and_chunks_are_read_in_linear_time():
    jpeg, png = SAMPLES["atelier.jpg"], SAMPLES["atelier.png"]
    many_comments = jpeg[:2] + (b"\xff\xfe\x00\x0fatelier-json:" * 200_000) + jpeg[2:]
    assert metadata.read_embedded(many_comments)["generation_id"] == "g-1"  # the real record is still whole
    many_chunks = png[:33] + ff.chunk(b"tEXt", b"k\0v") * 200_000 + png[33:]
    assert metadata.read_texts(many_chunks)["k"] == "v"


def test_exif_entries_pointing_at_a_large_block_copy_nothing_they_do_not_read():
    block = b"x" * ((8 << 20) + 1)
    entries = [(0x2000 + i, 7, len(block), 8 + 2 + 12 * 1000 + 4) for i in range(999)]  # tags no one reads
    entries.append((0x9286, 7, len(block), 8 + 2 + 12 * 1000 + 4))  # a UserComment 8 MB long: over the cap
    ifd = struct.pack(">H", 1000) + b"".join(struct.pack(">HHII", *e) for e in entries) + b"\0\0\0\0"
    tiff = b"MM\0*" + struct.pack(">I", 8) + ifd + block
    problems = []
    assert peak_while(lambda: exif.parse(tiff, problems)) < 2 * len(tiff)  # one copy without the header at most
    assert problems == ["EXIF tag 0x9286 too large to read"]
