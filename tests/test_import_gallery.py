"""Imported images in the gallery: each row says which tool made it, the tile's mark follows from that, and the
window reloads the gallery a few times during an import, not once per batch."""

import os

from services.library import GalleryRow
from services.status import Status
from tests.test_import import tool_folder
from ui.details import details_html
from ui.gallery_delegate import source_mark
from ui.import_menu import Throttle


def test_gallery_rows_carry_the_source_and_the_tile_mark_follows(library, tmp_path):
    library.import_paths([tool_folder(tmp_path / "sd")])
    rows = {os.path.basename(r.path): r for r in library.gallery()}
    assert {name: r.source for name, r in rows.items()} == {
        "a1111.png": "a1111",
        "forge.jpg": "a1111",
        "comfy.png": "comfyui",
        "invoke.png": "invokeai",
        "fooocus.png": "fooocus",
        "plain.png": "unknown",
    }
    assert {name: source_mark(r) for name, r in rows.items()} == {
        "a1111.png": "A1111",
        "forge.jpg": "A1111",
        "comfy.png": "ComfyUI",
        "invoke.png": "InvokeAI",
        "fooocus.png": "Fooocus",
        "plain.png": "Imported",
    }
    [again] = library.gallery_rows(image_ids=[rows["comfy.png"].image_id])  # rows made for arrivals say it too
    assert again.source == "comfyui"


def test_the_details_of_an_a1111_image_show_its_settings(library, tmp_path):
    import html
    import re

    library.import_paths([tool_folder(tmp_path / "sd")])
    row = next(r for r in library.gallery() if r.path.endswith("a1111.png"))
    shown = html.unescape(
        re.sub(r"<[^>]+>", " ", details_html(row, library.generation(row.generation_id), library.root))
    )
    for label, value in (("Source", "Automatic1111 / Forge"), ("Negative prompt", "blurry, lowres"),
                         ("Sampler", "DPM++ 2M"), ("Steps", "28"), ("CFG scale", "6.5")):  # fmt: skip
        assert re.search(rf"{re.escape(label)}\s+{re.escape(value)}\b", shown), (label, shown)


def test_atelier_images_and_attempts_carry_no_mark():
    own = GalleryRow(1, "g1", 1.0, Status.OK, "ab", "images/a.png", 64, 48, 0, "gemini-3-pro-image", None, None)
    from_another_library = own._replace(status=Status.IMPORTED, source="atelier")
    attempt = GalleryRow(None, "g2", 1.0, Status.ERROR, None, None, 0, 0, 0, "gemini-3-pro-image", "quota", None)
    odd = own._replace(status=Status.IMPORTED, source="sdnext")  # a tool a newer Atelier knows
    assert [source_mark(r) for r in (own, from_another_library, attempt, odd)] == [None, None, None, "Imported"]
    assert source_mark(tuple(own)[:11]) is None  # a row without the column (an older caller) is painted as before


def test_the_reload_throttle_merges_calls(qtbot):
    calls = []
    throttle = Throttle(lambda: calls.append(1), 300)
    throttle()  # the first runs at once
    throttle()
    throttle()  # these two become one, 300 ms after the first
    assert calls == [1]
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=3000)
    qtbot.wait(400)
    assert len(calls) == 2  # nothing more was asked
    throttle.flush()  # the import's end: at once
    assert len(calls) == 3
