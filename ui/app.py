"""Starting and stopping the window on a qasync loop, and the self-test that packaging runs.

The window paints its frame on Qt's own loop before asyncio, qasync and the window's parts are imported (together
longer than the paint); asyncio is imported inside the functions that use it, after that first paint."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from services.app import enable_crash_log, freeze_startup_objects, setup_logging, share_the_gil_quickly
from ui.appearance import apply_color_scheme, wants_dark  # noqa: F401 - wants_dark is part of this module's API

if TYPE_CHECKING:
    import asyncio

    from services.app import Services

log = logging.getLogger(__name__)


def create_application(appearance: str = "system", system_dark: bool | None = None):
    """system_dark: the system's scheme as last seen (see apply_color_scheme); check_system_scheme() corrects it."""
    os.environ.setdefault("QT_API", "pyside6")  # qasync would pick PyQt first if it were installed
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Atelier")
    app.setApplicationDisplayName("Atelier")
    app.setOrganizationName("Atelier")
    app.setDesktopFileName("atelier")
    app.setStyle("Fusion")
    app.setQuitOnLastWindowClosed(False)
    app.setProperty("atelier_appearance", appearance)
    apply_color_scheme(app, system_dark=system_dark)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_color_scheme(app))
    return app


def check_system_scheme(app, settings, shown_dark: bool) -> None:
    """After the first paint, shown with the system's scheme as last seen (shown_dark): the scheme now, applied if it
    changed and remembered for the next start."""
    from PySide6.QtCore import Qt

    dark = app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    if dark != shown_dark:
        apply_color_scheme(app)
    state = dict(settings.get("window", {}) or {})
    if state.get("system_dark") != dark:
        state["system_dark"] = dark
        settings.set("window", state)


def set_icon(app) -> None:
    """Given after the first paint: reading the SVG loads Qt's SVG plugin."""
    from importlib import resources

    from PySide6.QtGui import QIcon

    with resources.as_file(resources.files("resources").joinpath("atelier.svg")) as path:
        app.setWindowIcon(QIcon(str(path)))


def install_error_road(window) -> None:
    """Unexpected errors are logged and shown in the window, never lost to a console no user sees."""

    def excepthook(kind, value, tb):
        log.error("unexpected error", exc_info=(kind, value, tb))
        try:
            window.show_error(f"Something went wrong: {value}. Details are in the log folder.")
        except Exception:
            pass

    sys.excepthook = excepthook

    import asyncio

    def loop_handler(loop, context):
        error = context.get("exception")
        log.error("event loop error: %s", context.get("message"), exc_info=error)
        if error is not None and not isinstance(error, asyncio.CancelledError):
            window.show_error(f"Something went wrong: {error}. Details are in the log folder.")

    asyncio.get_event_loop().set_exception_handler(loop_handler)


async def _main(window, services: Services, closed: asyncio.Future, self_test: bool) -> int:
    """The window is shown, "opening the library"; it is completed when the library is open."""
    import asyncio

    install_error_road(window)
    original_close = window.closeEvent

    def close_event(event):
        window.save_state()
        original_close(event)
        if not closed.done():
            closed.set_result(0)

    window.closeEvent = close_event
    library = None
    try:
        opening = asyncio.ensure_future(open_library_or_explain(services))
        await asyncio.wait([opening, closed], return_when=asyncio.FIRST_COMPLETED)
        if not opening.done():  # closed before the library opened (the start-up benchmark does)
            opening.cancel()
            return await closed
        library = opening.result()
        if library is None:
            return 1
        window.set_library(library)
        if self_test:
            return await run_self_test(window)
        return await closed
    finally:
        await window.shutdown()
        if library is not None:
            library.close()
        services.shutdown()


async def open_library_or_explain(services: Services):
    """The library, or None after telling the user why not; a corrupt index is rebuilt from the files if they agree."""
    import asyncio

    from PySide6.QtWidgets import QMessageBox, QProgressDialog

    from services.errors import LibraryError
    from services.library import Library
    from services.status import ErrorKind
    from ui.common import ask, tr

    try:
        return await asyncio.to_thread(services.open_library)  # migrations and recovery can take a while
    except LibraryError as exc:
        problem = exc
    log.error("cannot open the library: %s", problem)
    title = tr("Atelier cannot open the library")
    if problem.kind != ErrorKind.INDEX_CORRUPT:
        await ask(None, QMessageBox.Icon.Critical, title, str(problem), [tr("Quit")])
        return None
    # The error's own advice names the command line; in the window the question is the advice.
    text = (
        tr("Atelier cannot read the index of your library ({0}), so it cannot show your images yet.").format(
            services.library_root()
        )
        + "\n\n"
        + tr("Rebuild the index from the image files? No image is lost.")
    )
    if await ask(None, QMessageBox.Icon.Warning, title, text, [tr("Rebuild index"), tr("Quit")]) != 0:
        return None
    library = Library(services.library_root())
    progress = QProgressDialog(tr("Rebuilding the library index from the image files…"), "", 0, 0)
    progress.setCancelButton(None)
    progress.setWindowTitle("Atelier")
    progress.show()
    try:
        report = await asyncio.to_thread(library.rebuild)
    except LibraryError as exc:
        progress.close()
        await ask(None, QMessageBox.Icon.Critical, title, str(exc), [tr("Quit")])
        return None
    progress.close()
    log.info("rebuilt the index at start: %s", report)
    return library


def paint_first(window, timeout_ms: int = 1000) -> None:
    """Shows the window and runs Qt's own loop until its first paint (or the timeout: a hidden window never paints).
    With ATELIER_EXIT_AFTER_FIRST_PAINT (the start-up benchmark) prints the time of that paint, and with
    ATELIER_FIRST_PAINT_MODULES the modules loaded by then (the start-up test)."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

    loop = QEventLoop()

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and loop.isRunning():
                if os.environ.get("ATELIER_EXIT_AFTER_FIRST_PAINT"):
                    print(f"first-paint {time.time():.6f}", flush=True)
                if os.environ.get("ATELIER_FIRST_PAINT_MODULES"):
                    from PySide6 import QtCore

                    print("first-paint-modules " + " ".join(sorted(sys.modules)), flush=True)
                    print(f"first-paint-qt-namespace {'Qt' in vars(QtCore)}", flush=True)  # made on first use
                loop.quit()
            return False

    first_paint = FirstPaint(window)  # referenced: a collected filter is silently removed
    window.installEventFilter(first_paint)
    QTimer.singleShot(timeout_ms, loop.quit)
    window.show()
    loop.exec()
    window.removeEventFilter(first_paint)
    first_paint.deleteLater()


def run_window(services: Services, self_test: bool = False) -> int:
    import tempfile

    if self_test:
        # A temporary home and library, the offline demo, no window on screen.
        home = tempfile.mkdtemp(prefix="atelier-self-test-")
        os.environ["ATELIER_HOME"] = home
        os.environ["ATELIER_LIBRARY"] = os.path.join(home, "library")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ["ATELIER_DEMO_LATENCY"] = "0"
        from services.app import Services

        services = Services.create(prepare_qt=False)
        services.settings.set("endpoint", "demo")
    enable_crash_log(services.paths)  # the log file itself after the first paint; a failure before it is logged below
    share_the_gil_quickly()
    logging_ready = False
    try:
        from ui.main_window import MainWindow

        last_dark = (services.settings.get("window", {}) or {}).get("system_dark", False)
        app = create_application(str(services.settings.get("appearance", "system")), last_dark)
        window = MainWindow(services, parts_later=True)
        paint_first(window)
        if os.environ.get("ATELIER_EXIT_AFTER_FIRST_PAINT"):
            window.close()
            return 0
        # After the first paint: the log, Qt's image plugins on this (the main) thread before any worker starts,
        # the loop, then the parts (some start tasks as they are built).
        setup_logging(services.paths)
        logging_ready = True
        from services.imaging import prepare_qt

        prepare_qt()
        check_system_scheme(app, services.settings, last_dark)
        set_icon(app)
        import asyncio

        import qasync

        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        window.build_parts()
        freeze_startup_objects()
        closed = loop.create_future()
        app.aboutToQuit.connect(lambda: closed.done() or closed.set_result(0))
        with loop:
            return loop.run_until_complete(_main(window, services, closed, self_test))
    except Exception as exc:
        if not logging_ready:
            setup_logging(services.paths)
        log.exception("Atelier stopped")
        print(f"Atelier stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        if self_test:
            import shutil

            logging.shutdown()
            shutil.rmtree(os.environ["ATELIER_HOME"], ignore_errors=True)


async def run_self_test(window) -> int:
    """Generates one image on the demo endpoint and checks it reaches the gallery and the history; then adds a
    folder holding a copy of it the way the window's import does (a child process and reader processes, which a
    bundle must be able to start) and checks the copy is read as Atelier's."""
    import asyncio

    from services.catalog import DEFAULT_MODEL
    from services.status import Status

    started = time.monotonic()
    problems = []
    panel = window.panel
    panel.prompt.setPlainText("self-test: a lighthouse at dusk")
    panel.model_selector.select(DEFAULT_MODEL)
    panel.count.setValue(1)
    job = panel.generate()
    if job is None:
        problems.append(f"generate refused: {panel.input_error.text()}")
    else:
        await asyncio.wait_for(asyncio.shield(job.task), 60)
        if job.status is not Status.OK or len(job.images) != 1:
            problems.append(f"job ended {job.status}: {job.message}")
        else:
            image = job.images[0]
            for _ in range(200):
                if window.browser.gallery_model.row_of(image.image_id) is not None:
                    break
                await asyncio.sleep(0.02)
            else:
                problems.append("the image did not appear in the gallery")
            entries = await asyncio.to_thread(window.library.history)
            if not entries or entries[0].generation_id != job.generation_id or not entries[0].images:
                problems.append("the image is not in the history")
            elif not os.path.isfile(entries[0].images[0].path):
                problems.append("the image file is missing")
            else:
                problems += await asyncio.to_thread(_self_test_import, window.library, entries[0].images[0].path)
    elapsed = time.monotonic() - started
    if problems:
        print(f"Atelier self-test FAILED in {elapsed:.1f} s: " + "; ".join(problems), flush=True)
        return 1
    print(
        f"Atelier self-test passed in {elapsed:.1f} s: generated 1 image on the demo endpoint, "
        "found it in the gallery and the history, and imported a copy of it in a child process.",
        flush=True,
    )
    return 0


def _self_test_import(library, image_path: str) -> list[str]:
    import shutil
    import tempfile

    from services.errors import LibraryError
    from services.library import HistoryQuery
    from services.library.import_process import import_in_process

    folder = tempfile.mkdtemp(prefix="atelier-self-test-folder-")
    shutil.copyfile(image_path, os.path.join(folder, "copy.png"))
    try:
        report = import_in_process(library.root, [folder])
    except LibraryError as exc:
        return [f"the import failed: {exc}"]
    imported = [
        e.source for e in library.history(HistoryQuery(search="lighthouse"), limit=None) if e.status == "imported"
    ]
    if report["added"] != 1 or imported != ["atelier"]:
        return [f"the import added {report['added']} image(s), read as {imported}"]
    return []
