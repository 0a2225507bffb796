"""The parts built and tested alone, wired into the real window: importing, rating keys, boards, compare, duplicates."""

from pathlib import Path

from PySide6.QtGui import QColor, QImage

from tests import test_window
from tests.test_window import close_window, open_window
from ui.importer import ImportPanel

services = test_window.services  # the fixture: a demo-endpoint Services in an isolated home


def write_images(folder: Path, count: int, size: int = 64) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = QImage(size, size, QImage.Format.Format_RGB32)
        image.fill(QColor((37 * i) % 256, (91 * i + 40) % 256, (53 * i + 90) % 256))
        for x in range(i + 1):  # unlike each other, so no two share a sha256
            image.setPixelColor(x, x, QColor(255, 255, 255))
        path = folder / f"picture-{i}.png"
        assert image.save(str(path))
        paths.append(path)
    return paths


def test_add_folder_fills_the_gallery_and_the_watcher_stops_at_close(qtbot, qloop, services, tmp_path):
    window = open_window(qtbot, services)
    try:
        assert window.importing.add_folder_action in window.menuBar().actions()[0].menu().actions()
        panel = window.importing.panel
        assert isinstance(panel, ImportPanel)
        assert window.importing.watch is not None
        before = window.browser.gallery_model.rowCount()
        assert panel.start([write_images(tmp_path / "outside", 3)[0].parent])
        qtbot.waitUntil(lambda: window.browser.gallery_model.rowCount() == before + 3, timeout=15_000)
        assert not panel.running
        assert "3 images added" in panel.label.text()
        watch = window.importing.watch
    finally:
        close_window(qtbot, window)
    assert window.importing.watch is None
    assert not watch._thread.is_alive()


def test_import_files_copies_them_into_the_library(qtbot, qloop, services, tmp_path):
    window = open_window(qtbot, services)
    try:
        files = write_images(tmp_path / "loose", 2)
        assert window.importing.panel.start(files, copy=True)
        qtbot.waitUntil(lambda: window.browser.gallery_model.rowCount() == 2, timeout=15_000)
        rows = window.browser.gallery_model.rows
        assert all((window.library.root / r.path).is_file() for r in rows)
        assert all((window.library.root / r.path).resolve().is_relative_to(window.library.root.resolve()) for r in rows)
        assert all((window.library.root / r.path).resolve().parent != files[0].parent.resolve() for r in rows)
    finally:
        close_window(qtbot, window)
