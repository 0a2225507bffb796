"""The window's import part (ui/importer.py): an import in a worker with progress, batches and Cancel, and a
dropped image's prompt read off the GUI thread."""

import asyncio
import threading

from services.library import HistoryQuery
from tests import foreign_files as ff
from ui.importer import ImportPanel, dropped_image, summary


def folder_of(tmp_path, count):
    folder = tmp_path / "sd"
    folder.mkdir()
    for i in range(count):
        (folder / f"{i}.png").write_bytes(ff.a1111_png(prompt=f"lantern number {i}"))
    return folder


def test_panel_imports_in_a_worker_with_progress_and_batches(qtbot, library, tmp_path):
    folder = folder_of(tmp_path, 25)
    panel = ImportPanel(library, batch_size=10)
    qtbot.addWidget(panel)
    landed, threads = [], []
    panel.images_landed.connect(lambda ids: (landed.append(len(ids)), threads.append(threading.current_thread())))
    with qtbot.waitSignal(panel.finished, timeout=20_000) as finished:
        assert panel.start([folder])
        assert panel.isVisible() and not panel.start([folder])  # one import at a time
    assert finished.args[0]["added"] == 25 and landed == [10, 10, 5]
    assert set(threads) == {threading.main_thread()}  # the batches reach the GUI thread, queued
    assert (panel.bar.value(), panel.bar.maximum()) == (25, 25)
    assert panel.label.text() == "25 images added." and not panel.running
    assert len(library.history(HistoryQuery(search="lantern"), limit=None)) == 25


def test_cancel_stops_the_import_and_keeps_what_landed(qtbot, library, tmp_path):
    folder = folder_of(tmp_path, 60)
    panel = ImportPanel(library, batch_size=10)
    qtbot.addWidget(panel)
    panel.images_landed.connect(lambda ids: panel.cancel())  # Cancel clicked as soon as the first batch shows
    with qtbot.waitSignal(panel.finished, timeout=20_000) as finished:
        panel.start([folder])
    report = finished.args[0]
    assert report["cancelled"] and 10 <= report["added"] < 60
    assert library.count_images() == report["added"]
    assert "before you cancelled" in panel.label.text()


def test_dropped_image_prompt_is_read_off_the_gui_thread(tmp_path):
    good = tmp_path / "comfy.png"
    good.write_bytes(ff.comfyui_png(ff.comfyui_graph(positive="a paper boat")))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"<html>not an image</html>")

    async def both():
        return await dropped_image(good), await dropped_image(junk), await dropped_image(tmp_path / "gone.png")

    found, plain, missing = asyncio.run(both())
    assert found.prompt.startswith("a paper boat") and found.info.source == "comfyui"
    assert plain.prompt == "" and plain.info.source == "unknown"
    assert missing.info is None and missing.problem.startswith("gone.png cannot be read")


def test_summary_says_what_happened():
    assert summary({"added": 1, "failed": [{"path": "x", "reason": "y"}]}) == "1 image added; 1 could not be read."


def test_stop_for_the_window_close_ends_the_worker_before_the_library_closes(qtbot, library, tmp_path):
    folder = folder_of(tmp_path, 40)
    panel = ImportPanel(library, batch_size=5)
    qtbot.addWidget(panel)
    panel.start([folder])
    worker = panel.worker
    assert panel.stop(timeout=20)
    assert not worker._thread.is_alive()
    library.close()  # nothing writes after this: the worker has ended
