"""The window's first paint waits for nothing it does not show: what is loaded by then (in a real start of main.py),
and the frame's stand-ins giving way to the real parts without moving them."""

import asyncio
import os
import subprocess
import sys

from PySide6.QtCore import Qt

from tests import test_window
from ui.main_window import MainWindow
from ui.opening import GenerateStandIn

from .conftest import ROOT

# Each of these takes longer to import than the paint itself, or reaches for the disk, the network or the keychain.
NOT_BEFORE_FIRST_PAINT = (
    "asyncio",
    "qasync",
    "httpx",
    "httpcore",
    "ssl",
    "sqlite3",
    "numpy",
    "google",
    "keyring",
    "psutil",
    "services.library",
    "services.jobs",
    "services.generation",
    "services.client",
    "services.imaging",
    "services.emulator",
    "services.ledger",
    "ui.studio",
    "ui.browser",
    "ui.gallery",
    "ui.generate_panel",
    "ui.details",
    "ui.viewer",
    "ui.jobs_panel",
    "ui.settings_dialog",
)


def first_paint_report(tmp_path) -> tuple[set[str], str]:
    env = {
        **os.environ,
        "ATELIER_LIBRARY": str(tmp_path / "library"),
        "ATELIER_EXIT_AFTER_FIRST_PAINT": "1",
        "ATELIER_FIRST_PAINT_MODULES": "1",
    }
    out = subprocess.run(
        [sys.executable, "main.py"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    ).stdout
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if " " in line}
    assert "first-paint" in lines, out[-500:]
    return set(lines["first-paint-modules"].split()), lines["first-paint-qt-namespace"]


def test_the_first_paint_loads_none_of_what_it_does_not_show(tmp_path):
    modules, qt_namespace = first_paint_report(tmp_path)
    loaded = sorted(m for m in modules for heavy in NOT_BEFORE_FIRST_PAINT if m == heavy or m.startswith(heavy + "."))
    assert loaded == []
    assert {"ui.main_window", "ui.opening", "services.settings"} <= modules  # it did paint the frame
    assert qt_namespace == "False"  # Qt.* enums are made on first use: about 25 ms


services = test_window.services  # the fixture: a demo-endpoint Services in an isolated home


def test_the_parts_take_the_stand_ins_places_and_the_prompt_the_focus(qtbot, qloop, services):
    window = MainWindow(services, parts_later=True)
    window.show()
    qtbot.waitExposed(window, timeout=5000)
    window.activateWindow()
    stand_in = window._generate_slot
    assert isinstance(stand_in, GenerateStandIn) and window.studio is None
    assert "demo" in window.banner.label.text() and window.banner.isVisible()  # no banner arriving later
    sizes, prompt_at = window.splitter.sizes(), stand_in.prompt.mapTo(window, stand_in.prompt.rect().topLeft())
    stand_in_height = stand_in.prompt.height()
    window.build_parts()
    try:
        qtbot.waitUntil(lambda: window.jobs is not None, timeout=5000)  # built after the paint, as before
        prompt = window.panel.prompt
        assert window.splitter.sizes() == sizes
        assert prompt.mapTo(window, prompt.rect().topLeft()) == prompt_at
        assert abs(prompt.height() - stand_in_height) <= 10  # the rows below it are the stand-in's, near enough
        qtbot.waitUntil(prompt.hasFocus, timeout=5000)
        qtbot.keyClicks(prompt, "too early")
        qtbot.keyClick(prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert "still opening" in window.panel.input_error.text()  # the real panel answers
    finally:
        window.save_state()
        task = asyncio.ensure_future(window.shutdown())
        qtbot.waitUntil(task.done, timeout=10_000)
        window.close()


def test_a_window_closed_before_its_parts_saves_its_place_and_shuts_down(qtbot, qloop, services):
    window = MainWindow(services, parts_later=True)
    window.show()
    qtbot.waitExposed(window, timeout=5000)
    window.resize(1000, 700)
    window.save_state()
    task = asyncio.ensure_future(window.shutdown())
    qtbot.waitUntil(task.done, timeout=5000)
    window.close()
    assert task.exception() is None
    assert services.settings.get("window")["geometry"] and "thumb_size" not in services.settings.get("window")


def test_the_first_paint_uses_the_scheme_last_seen_and_the_window_corrects_it_after(qapp, services):
    from PySide6.QtGui import QPalette

    from ui.app import check_system_scheme, create_application

    def window_lightness() -> int:
        return qapp.palette().color(QPalette.ColorRole.Window).lightness()

    try:
        assert create_application("system", system_dark=True) is qapp and window_lightness() < 80
        check_system_scheme(qapp, services.settings, shown_dark=True)  # offscreen, the system has no dark scheme
        assert window_lightness() > 180 and services.settings.get("window")["system_dark"] is False
    finally:
        qapp.setProperty("atelier_appearance", "system")
        qapp.setPalette(qapp.style().standardPalette())
