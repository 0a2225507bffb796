"""Atelier's performance figures, each against a baseline measured in the same run on the same machine.

    python tests/benchmarks/run.py            # the full run: a 100,000-image library (built once, then reused)
    python tests/benchmarks/run.py --quick    # a reduced smoke run for CI (no thresholds there)
    python tests/benchmarks/run.py --json     # one JSON object with the figures

Everything goes through the real services: the library is built with Library.save_image, the network is the
emulator on loopback, the gallery is the window's own model and view (offscreen).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")

TARGETS = {
    "startup_ratio": ("<=", 1.5),
    "gallery_open_ms": ("<=", 300),
    "gallery_jump_ms_p95": ("<=", 100),
    "gallery_rss_mb": ("<=", 350),
    "search_ms_p95": ("<=", 60),
    "ingest_ratio": ("<=", 1.3),
    "ui_stall_ms_max": ("<=", 50),
    "parallel_ratio": ("<=", 1.3),
    "leak_mb_per_100": ("<=", 20),
    "window_stall_ms_max": ("<=", 50),
    "batch_ingest_ratio": (">=", 0.8),
    "batch_ingest_rss_mb": ("<=", 300),
    "import_ratio": (">=", 0.5),
    "import_ui_stall_ms_max": ("<=", 50),
}
WORDS = [
    "fox",
    "lighthouse",
    "harbour",
    "lantern",
    "forest",
    "koi",
    "crane",
    "violin",
    "desert",
    "caravan",
    "robot",
    "garden",
    "ship",
    "storm",
    "city",
    "night",
    "neon",
    "watercolour",
    "woodcut",
    "pastel",
    "golden",
    "hour",
    "snow",
    "mountain",
    "lake",
    "tram",
    "ramen",
    "balloon",
    "cat",
    "window",
]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


# --- the synthetic library ------------------------------------------------------------------------------------


def build_library(root: Path, images: int) -> Path:
    """`images` small distinct pictures saved through Library.save_image, thumbnails and all. Reused if present."""
    from services.emulator import Painter
    from services.imaging import check_image
    from services.library import Library
    from services.types import GenerationRequest, ReceivedImage

    marker = root / f".bench-{images}"
    if marker.exists():
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    library = Library(root).open()
    painter = Painter(cache_size=0)
    pictures = [painter.png(f"bench {i}", 96, 72) for i in range(64)]
    rng = random.Random(1)
    start = time.time() - images * 60  # one image a minute, so the grid spans many days
    for i in range(images):
        prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
        model = rng.choice(["gemini-3.1-flash-image", "gemini-3-pro-image", "imagen-4.0-generate-001"])
        request = GenerationRequest(prompt, model, aspect_ratio="4:3")
        created = start + i * 60
        gid = library.begin(request, endpoint="bench", protocol="generateContent", created_at=created)
        data = pictures[i % len(pictures)]
        mime, w, h = check_image(data)
        library.save_image(
            gid, 0, ReceivedImage(data, mime, w, h), request=request, endpoint="bench", created_at=created
        )
        library.finish(gid, status="ok")
    library.close()
    marker.touch()
    return root


# --- start-up ---------------------------------------------------------------------------------------------------


def first_paint_seconds(argv: list[str], env: dict) -> float:
    started = time.time()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT).stdout
    for line in out.splitlines():
        if line.startswith("first-paint "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"no first paint from {argv}: {out[-300:]}")


def measure_startup(library: Path, runs: int) -> dict:
    """Both programs start as an installed Atelier does, from compiled bytecode: this environment may set
    PYTHONDONTWRITEBYTECODE, which would make every timed start compile Atelier's ~2,000 lines read before the
    first paint (20-40 ms here) while the bare window's modules are all precompiled. Each program runs once untimed
    to fill a private bytecode cache; `startup_from_source_ratio` is the figure without that cache."""
    home = tempfile.mkdtemp(prefix="atelier-bench-home-")
    env = {
        **os.environ,
        "ATELIER_HOME": home,
        "ATELIER_LIBRARY": str(library),
        "ATELIER_EXIT_AFTER_FIRST_PAINT": "1",
        "ATELIER_DEMO_LATENCY": "0",
    }
    cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="atelier-bench-pycache-")
    uncached = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    bare_window = [sys.executable, str(ROOT / "tests/benchmarks/bare_window.py")]
    atelier = [sys.executable, str(ROOT / "main.py")]
    for argv in (bare_window, atelier):
        first_paint_seconds(argv, cached)  # fills the bytecode cache
    times: dict[str, list[float]] = {"bare": [], "app": [], "bare_src": [], "app_src": []}
    for _ in range(runs):  # interleaved, so all see the same machine
        times["bare"].append(first_paint_seconds(bare_window, cached))
        times["app"].append(first_paint_seconds(atelier, cached))
        times["bare_src"].append(first_paint_seconds(bare_window, uncached))
        times["app_src"].append(first_paint_seconds(atelier, uncached))
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "startup_ratio": median["app"] / median["bare"],
        "startup_s": median["app"],
        "bare_window_s": median["bare"],
        "startup_from_source_ratio": median["app_src"] / median["bare_src"],
    }


# --- the gallery, offscreen -------------------------------------------------------------------------------------


def measure_gallery(library_root: Path, jumps: int, queries: int, scroll_positions: int) -> dict:
    """The window's own gallery (model, view, loader and load_gallery) offscreen, on a plain asyncio loop pumped
    together with Qt's events."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    from services.library import HistoryQuery, Library
    from ui.gallery import GalleryModel, GalleryView, load_gallery

    _app = QApplication.instance() or QApplication([])
    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = asyncio.get_event_loop()
    view = GalleryView()
    view.resize(900, 760)
    view.show()

    def pump(awaitable=None):
        result = loop.run_until_complete(awaitable or asyncio.sleep(0))  # delivers thumbnails (call_soon_threadsafe)
        QCoreApplication.processEvents()
        return result

    def pump_until(predicate, timeout=10.0):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            pump(asyncio.sleep(0.001))
            if predicate():
                return True
        return False

    def visible_painted():
        rows = view.visible_rows()
        return bool(rows) and all(
            model.index(r, 0).data(Qt.ItemDataRole.DecorationRole) is not None for r in rows if r < model.rowCount()
        )

    started = time.perf_counter()
    library = Library(library_root).open()
    model = GalleryModel(library)
    view.setModel(model)
    view.set_edge(192)
    steps = load_gallery(model, library, HistoryQuery())
    pump(anext(steps))  # the first screens are in the model
    pump_until(visible_painted)
    open_ms = (time.perf_counter() - started) * 1000
    while not pump(anext(steps, True)):  # the rest of the rows
        pass
    rng = random.Random(3)
    jump_times = []
    for _ in range(jumps):
        row = rng.randrange(model.rowCount())
        started = time.perf_counter()
        view.scrollTo(model.index(row, 0), view.ScrollHint.PositionAtTop)
        pump_until(visible_painted)
        view.viewport().repaint()
        jump_times.append((time.perf_counter() - started) * 1000)
    search_times = []
    for i in range(queries):
        words = rng.sample(WORDS, 1 + i % 3)
        text = " ".join(words[:-1] + [words[-1][: max(2, len(words[-1]) - i % 3)]])  # the last word as typed
        started = time.perf_counter()
        steps = load_gallery(model, library, HistoryQuery(search=text))
        pump(anext(steps))  # the grid shows the first screens of results
        view.viewport().repaint()
        search_times.append((time.perf_counter() - started) * 1000)
        while not pump(anext(steps, True)):
            pass
    filtered = {}
    for name, query in organize_queries(library):  # each on a fresh model: cold thumbnails, as at a first open
        pump(steps.aclose())  # the last listing's steps end, as the window's `async for` does: they held the model
        model.loader.stop()
        model = GalleryModel(library)
        view.setModel(model)
        gc.collect()  # the model just replaced (its signals make cycles) and its pixmaps: this measure's, not the app's
        view.set_edge(192)
        started = time.perf_counter()
        steps = load_gallery(model, library, query)
        pump(anext(steps))
        pump_until(visible_painted)
        filtered[f"gallery_open_{name}_ms"] = (time.perf_counter() - started) * 1000
        while not pump(anext(steps, True)):
            pass
        filtered[f"gallery_{name}_rows"] = model.rowCount()
    steps = load_gallery(model, library, HistoryQuery())
    while not pump(anext(steps, True)):
        pass
    total = model.rowCount()
    for k in range(scroll_positions):
        view.scrollTo(
            model.index(int(k * (total - 1) / max(1, scroll_positions - 1)), 0), view.ScrollHint.PositionAtTop
        )
        pump_until(visible_painted, 5)
    rss = rss_mb()
    model.loader.stop()
    view.close()
    library.close()
    return {
        "gallery_open_ms": open_ms,
        "gallery_jump_ms_p95": p95(jump_times),
        "search_ms_p95": p95(search_times),
        "gallery_rss_mb": rss,
        "gallery_rows": total,
        "thumbnail_cache_mb": model.cache_bytes() / 2**20,
        **filtered,
    }


def organize_queries(library) -> list:
    """The gallery's filters and sorts by rating, tag and thread, as (name, HistoryQuery); first rates a sixth of
    the images at each of 1-5 stars, rejects one in 50 and tags one in 7 "keep" (once: the journal stays)."""
    from dataclasses import fields

    from services.library import HistoryQuery

    if not library.tags():
        shas = [r.sha256 for r in library.gallery(HistoryQuery(include_failed=False))]
        for stars in range(1, 6):
            library.rate([s for i, s in enumerate(shas) if i % 6 == stars], stars)
        library.rate(shas[49::50], "reject")
        library.tag(shas[::7], ["keep"])
    names = {f.name for f in fields(HistoryQuery)}
    queries = [
        ("min3", HistoryQuery(min_rating=3)),
        ("tag", HistoryQuery(tag="keep")),
        ("by_rating", HistoryQuery(by_rating=True)),
    ]
    if "threads_collapsed" in names:  # a figure only where the gallery can collapse threads
        queries.append(("threads", HistoryQuery(threads_collapsed=True)))
    return queries


# --- ingest ---------------------------------------------------------------------------------------------------


def measure_ingest(reps: int) -> dict:
    from PySide6.QtGui import QImageReader

    from services import protocol
    from services.emulator import Painter
    from services.library import Library
    from services.settings import write_atomically
    from services.types import GenerationRequest

    png = Painter(texture=True, cache_size=0).png("ingest", 2048, 2048)
    body = json.dumps(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}]
                    },
                    "finishReason": "STOP",
                }
            ]
        }
    ).encode()
    folder = Path(tempfile.mkdtemp(prefix="atelier-bench-ingest-"))
    library = Library(folder / "lib").open()
    request = GenerationRequest("ingest", "gemini-3.1-flash-image")
    floor, app = [], []
    for i in range(reps):
        started = time.perf_counter()  # the bare floor: decode, write atomically, one scaled decode
        data = base64.b64decode(json.loads(body)["candidates"][0]["content"]["parts"][0]["inlineData"]["data"])
        target = folder / f"floor-{i}.png"
        write_atomically(target, data)
        reader = QImageReader(str(target))
        reader.setScaledSize(
            reader.size().scaled(320, 320, __import__("PySide6.QtCore").QtCore.Qt.AspectRatioMode.KeepAspectRatio)
        )
        reader.read()
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()  # the app: parse, check, embed metadata, write, thumbnail, index row
        parsed = protocol.parse_generate_content(protocol.decode_json(body, 200))
        gid = library.begin(request, endpoint="bench", protocol="generateContent")
        library.save_image(gid, 0, parsed.images[0], request=request, endpoint="bench")
        library.finish(gid, status="ok")
        app.append(time.perf_counter() - started)
    library.close()
    return {
        "ingest_ratio": statistics.median(app) / statistics.median(floor),
        "ingest_ms": statistics.median(app) * 1000,
        "ingest_floor_ms": statistics.median(floor) * 1000,
        "png_mb": len(png) / 2**20,
    }


# --- batch results ----------------------------------------------------------------------------------------------


def measure_batch_ingest(images: int, size: str = "512") -> dict:
    """A results file of `images` lines from the emulator (its own process) streamed into a library, against the
    floor of saving one image the same way (begin, save_image, finish) in this run; peak RSS while it runs."""
    import resource
    import shutil
    import threading

    from services import protocol
    from services.batch import BatchService
    from services.catalog import Catalog
    from services.endpoints import custom
    from services.library import Library
    from services.prompt_list import parse
    from services.types import GenerationRequest

    folder = Path(tempfile.mkdtemp(prefix="atelier-bench-batch-"))
    catalog = Catalog.load()
    launcher = (
        "import sys; from services.emulator import Emulator; "
        "e = Emulator(texture=True, batch_turnaround=0.2).start(); print(e.url, flush=True); "
        "sys.stdin.read(); e.stop()"
    )
    server = subprocess.Popen([sys.executable, "-c", launcher], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)  # fmt: skip
    url = server.stdout.readline().strip()
    try:
        library = Library(folder / "lib").open()
        service = BatchService(catalog, library, min_poll=0.0, inline_limit=0)
        listed = "".join(f"batch heron {i}\n" for i in range(images))
        prompts = parse(listed, catalog, defaults={"model": "gemini-3.1-flash-image", "size": size})
        (record, rows), *_ = service.plan(prompts, custom(url, "header"))
        started = time.perf_counter()
        record = asyncio.run(service.submit(record, rows))
        while not record.finished:  # the emulator draws every picture (in its own process) before we measure
            time.sleep(1.0)
            record, _ = asyncio.run(service.refresh(record, force=True))
        made_s = time.perf_counter() - started

        async def first_line():
            async with service._client(record) as client:
                async for line in client.download_lines(record.responses_file):
                    return line

        sample = protocol.parse_generate_content(json.loads(asyncio.run(first_line()))["response"]).images[0]
        request = GenerationRequest("batch heron floor", "gemini-3.1-flash-image", size=size)
        floor: list[float] = []

        floor_saves = max(20, images // 5)  # a span of seconds, not a blink that one busy moment on the machine skews

        def measure_floor(times: int) -> None:  # before and after the ingest, so that a busy machine weighs on both
            for _ in range(times):
                begun = time.perf_counter()
                gid = library.begin(request, endpoint="bench", protocol="generateContent")
                library.save_image(gid, 0, sample, request=request, endpoint="bench")
                library.finish(gid, status="ok")
                floor.append(time.perf_counter() - begun)

        measure_floor(floor_saves)
        peak = [rss_mb()]
        running = threading.Event()
        running.set()

        def sample_rss():
            while running.is_set():
                peak.append(rss_mb())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        before = rss_mb()
        sampler.start()
        started = time.perf_counter()
        result = asyncio.run(service.fetch(service.load(record.batch_id)))
        elapsed = time.perf_counter() - started
        running.clear()
        sampler.join()
        measure_floor(floor_saves)
        library.close()
    finally:
        server.stdin.close()
        server.wait(30)
    results_mb = sum(p.stat().st_size for p in (folder / "lib" / "images").rglob("*.png")) / 2**20
    shutil.rmtree(folder, ignore_errors=True)
    floor_rate = 1 / statistics.mean(floor)
    rate = len(result.images) / elapsed
    return {
        "batch_images": len(result.images),
        "batch_ingest_per_s": rate,
        "batch_floor_per_s": floor_rate,
        "batch_ingest_ratio": rate / floor_rate,
        "batch_ingest_rss_mb": max(peak),
        "batch_rss_before_mb": before,
        "batch_maxrss_process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batch_images_mb": results_mb,
        "batch_emulator_make_s": made_s,
    }


# --- the network: parallelism, stalls, leaks --------------------------------------------------------------------


class emulator_process:
    """The emulator in a process of its own, so its work does not count against the app (GIL, memory)."""

    def __init__(self, latency: float, texture: bool = False):
        argv = [sys.executable, "-m", "services.emulator", "--latency", str(latency)] + (
            ["--texture"] if texture else []
        )
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def __enter__(self) -> str:
        return self.proc.stdout.readline().strip()

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def measure_network(latency: float, leak_first: int, leak_more: int) -> dict:
    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from services.catalog import Catalog
    from services.endpoints import demo
    from services.generation import GenerationService
    from services.http_pool import HttpPool
    from services.library import Library
    from services.types import GenerationRequest

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    folder = Path(tempfile.mkdtemp(prefix="atelier-bench-net-"))
    library = Library(folder / "lib").open()
    pool = HttpPool()  # as the window's studio: one client per endpoint, made once (its TLS setup is ~50 ms)
    service = GenerationService(Catalog.load(), library, http=pool, max_parallel=4)
    results: dict = {}

    async def run():
        with emulator_process(latency) as url:
            endpoint = demo(url)
            req = GenerationRequest("parallel", "gemini-3.1-flash-image", size="1K")
            await service.generate(req, endpoint=endpoint, key=None)  # warm
            started = time.perf_counter()
            await service.generate(req, endpoint=endpoint, key=None)
            one = time.perf_counter() - started
            started = time.perf_counter()
            await service.generate(
                GenerationRequest("parallel", "gemini-3.1-flash-image", count=4, size="1K"), endpoint=endpoint, key=None
            )
            four = time.perf_counter() - started
            results["parallel_ratio"] = four / one
        with emulator_process(0, texture=True) as url:
            endpoint = demo(url)
            big = GenerationRequest("stall test", "imagen-4.0-generate-001", count=4, size="2K")
            await service.generate(big, endpoint=endpoint, key=None)  # warm the painter's cache: 4 x 2K PNGs
            gaps = []
            last = [time.perf_counter()]

            def tick():
                now = time.perf_counter()
                gaps.append((now - last[0]) * 1000)
                last[0] = now

            timer = QTimer()
            timer.setInterval(5)
            timer.timeout.connect(tick)
            timer.start()
            result = await service.generate(big, endpoint=endpoint, key=None)
            timer.stop()
            results["ui_stall_ms_max"] = max(gaps[1:] or [0]) - 5
            results["stall_batch_mb"] = sum(Path(i.path).stat().st_size for i in result.images) * 4 / 3 / 2**20
            leak = GenerationRequest("leak", "gemini-3.1-flash-image", count=4, size="2K", seed=1)
            done = 0
            while done < leak_first:
                await service.generate(leak, endpoint=endpoint, key=None)
                done += 4
            before = rss_mb()
            while done < leak_first + leak_more:
                await service.generate(leak, endpoint=endpoint, key=None)
                done += 4
            results["leak_mb_per_100"] = (rss_mb() - before) / leak_more * 100
        await pool.aclose()

    with loop:
        loop.run_until_complete(run())
    library.close()
    return results


# --- the whole window while an artist works -------------------------------------------------------------------


def measure_window_stall(library_root: Path, selections: int = 50, deletions: int = 20, searches: int = 10) -> dict:
    """The real MainWindow (offscreen) on a populated library while 3 jobs of 4 images arrive from the emulator (a
    process of its own), the selection moves, images are deleted one by one then undone, and the search changes:
    the longest gap of a 5 ms QTimer on the GUI thread. Widgets are found by type and accessible name, actions by
    their text, so the same measure runs on any version of the window."""
    import types

    import qasync
    from PySide6.QtCore import QItemSelectionModel, QTimer
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QSpinBox

    from services.app import Services, freeze_startup_objects
    from ui.editor import PromptEditor
    from ui.gallery import GalleryView

    home = tempfile.mkdtemp(prefix="atelier-bench-stall-")
    os.environ["ATELIER_HOME"] = home
    os.environ["ATELIER_LIBRARY"] = str(library_root)
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    results: dict = {}

    def named(kind, name):
        return next(w for w in window.findChildren(kind) if w.accessibleName() == name)

    def action(text):
        return next(a for a in window.findChildren(QAction) if a.text().replace("&", "") == text)

    async def until(predicate, timeout=60.0):
        deadline = time.perf_counter() + timeout
        while not predicate():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the window did not get there in time ({phase[-1] if phase else 'opening'})")
            await asyncio.sleep(0.01)

    phase: list[str] = []

    async def run():
        nonlocal window
        with emulator_process(0.3) as url:
            services = Services.create()
            services.settings.set("endpoint", "demo")
            services._demo = types.SimpleNamespace(url=url, stop=lambda: None)  # the emulator's own process
            from ui.main_window import MainWindow

            library = await asyncio.to_thread(services.open_library)
            window = MainWindow(services, library)
            window.resize(1400, 860)
            window.show()
            gallery = window.findChild(GalleryView)
            model = gallery.model()
            await until(lambda: model.rowCount() > 1000)
            freeze_startup_objects()  # as ui/app.py does once the window's parts are built
            await asyncio.sleep(1.0)  # discovery and the first thumbnails
            gaps, last, worst = [], [time.perf_counter()], {}
            phase.append("jobs")

            def tick():
                now = time.perf_counter()
                gap = (now - last[0]) * 1000
                gaps.append(gap)
                worst[phase[-1]] = max(worst.get(phase[-1], 0), gap - 5)
                last[0] = now

            timer = QTimer()
            timer.setInterval(5)
            timer.timeout.connect(tick)
            timer.start()
            phase.append("idle")  # the machine's own noise: the window does nothing for 2 s
            await asyncio.sleep(2.0)
            phase.pop()
            prompt = window.findChild(PromptEditor)
            named(QSpinBox, "Number of images").setValue(4)
            button = next(b for b in window.findChildren(QPushButton) if b.text().startswith("Generate"))
            rows_before = model.rowCount()
            for i in range(3):
                prompt.setPlainText(f"stall test {i}, a harbour at night")
                button.click()
                await asyncio.sleep(0.05)
            phase[-1] = "selection"
            for i in range(selections):
                gallery.setCurrentIndex(model.index(i * 7 % model.rowCount(), 0))
                await asyncio.sleep(0.03)
            delete, undo = action("Delete"), action("Undo delete")
            changes = [0]  # rows removed, inserted or reset: a deletion or an undo has reached the grid

            def changed(*_):
                changes[0] += 1

            for signal in (model.rowsRemoved, model.rowsInserted, model.modelReset):
                signal.connect(changed)
            phase[-1] = "delete"
            for i in range(deletions):
                index = model.index(40 + i, 0)
                gallery.setCurrentIndex(index)
                gallery.selectionModel().select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
                seen = changes[0]
                delete.trigger()
                await until(lambda seen=seen: changes[0] > seen, 20)
                await asyncio.sleep(0.02)
            phase[-1] = "undo"
            for _ in range(deletions):
                seen = changes[0]
                undo.trigger()
                await until(lambda seen=seen: changes[0] > seen, 20)
                await asyncio.sleep(0.02)
            search = named(QLineEdit, "Search")
            phase[-1] = "search"
            for word in WORDS[:searches]:
                search.setText(word)
                await asyncio.sleep(0.25)
            search.setText("")
            phase[-1] = "jobs"
            # every image back, every job's arrived
            await until(lambda: model.rowCount() == rows_before + 12, 120)
            await asyncio.sleep(0.3)
            timer.stop()
            results["window_stall_ms_max"] = max(v for k, v in worst.items() if k != "idle")
            results["window_idle_gap_ms_max"] = worst.get("idle", 0.0)
            results["window_stall_ms_p99"] = sorted(gaps)[int(0.99 * (len(gaps) - 1))] - 5
            results["window_rows"] = model.rowCount()
            results["window_stall_by_phase"] = {k: round(v, 1) for k, v in worst.items()}
            window.save_state()
            await window.shutdown()
            window.close()
            library.close()
            services.shutdown()

    window = None
    with loop:
        loop.run_until_complete(run())
    return results


def measure_import(count: int, workdir: str) -> dict:
    """Adding a folder of `count` small PNGs with A1111 infotext in place, as the window does it: its processes
    (import_process.ImportProcesses) started when the folder dialog opens, the folder given once chosen, watched by
    a worker thread. Images per second from the choice to the report, against the floor of reading each file and
    its header (imaging.image_header) in the same run, and the longest gap between the ticks of a 5 ms QTimer on the
    GUI thread while the import runs. The artist is taken to choose after the processes are ready (~0.5 s);
    `import_cold_per_s` counts their start too, as when no dialog came first. `import_in_thread_per_s`: the same
    import in a thread of this process (what the CLI does), for comparison."""
    import threading

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from services import imaging
    from services.library import Library
    from services.library.import_process import ImportProcesses, import_in_process
    from tests import foreign_files as ff
    from tests.helpers import PAINTER

    folder = Path(workdir) / f"import-{count}"
    if len(list(folder.glob("*.png"))) != count:
        folder.mkdir(parents=True, exist_ok=True)
        base, rng = PAINTER.png("import", 64, 48), random.Random(7)
        for i in range(count):
            prompt = " ".join(rng.choice(WORDS) for _ in range(8))
            params = {"Steps": "20", "Sampler": "Euler a", "CFG scale": "7", "Seed": str(i), "Size": "64x48",
                      "Model": "sdxl_base"}  # fmt: skip
            infotext = ff.a1111_infotext(prompt, "blurry, lowres", params)
            (folder / f"{i:06d}.png").write_bytes(ff.png_with([ff.text_chunk("parameters", infotext)], base))
    paths = sorted(folder.glob("*.png"))
    for path in paths:  # untimed: the floor and the import both read from the page cache (a floor read from disk
        path.read_bytes()  # once made the ratio 1.04)
    started = time.perf_counter()
    for path in paths:
        imaging.image_header(path.read_bytes())
    floor_s = time.perf_counter() - started
    root = Path(tempfile.mkdtemp(prefix="atelier-import-bench-"))
    library = Library(root / "library").open()
    app = QApplication.instance() or QApplication([])
    gaps, clock, done = [], QElapsedTimer(), threading.Event()
    clock.start()

    def tick():
        gaps.append(clock.restart())

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()  # the baseline: the same loop for 2 s with nothing else running (the machine's own noise)
    until = time.perf_counter() + 2
    while time.perf_counter() < until:
        QEventLoop().processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.001)
    timer.stop()
    idle_gaps, gaps[:] = gaps[1:], []
    clock.restart()
    report: dict = {}
    processes = ImportProcesses(library.root)  # the folder dialog opens
    processes.wait_ready(60)  # the artist chooses
    worker = threading.Thread(target=lambda: (report.update(processes.run([folder])), done.set()))
    timer.start()
    started = time.perf_counter()
    worker.start()
    loop = QEventLoop()
    while not done.is_set():
        loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.001)
    import_s = time.perf_counter() - started
    timer.stop()
    worker.join()
    started = time.perf_counter()
    library.rescan_folders()  # what every start costs: nothing changed, path/size/mtime compared
    rescan_s = time.perf_counter() - started
    library.close()
    cold = Library(root / "library-cold").open()
    started = time.perf_counter()
    import_in_process(cold.root, [folder])
    cold_s = time.perf_counter() - started
    cold.close()
    second = Library(root / "library-in-thread").open()
    started = time.perf_counter()
    second.import_paths([folder])
    in_thread_s = time.perf_counter() - started
    second.close()
    del app
    return {
        "import_images": report["added"],
        "import_floor_per_s": round(count / floor_s),
        "import_per_s": round(count / import_s),
        "import_ratio": round(floor_s / import_s, 3),
        "import_ui_stall_ms_max": max(gaps[1:] or [0]),
        "import_cold_per_s": round(count / cold_s),
        "import_in_thread_per_s": round(count / in_thread_s),
        "import_rescan_unchanged_s": round(rescan_s, 3),
        "idle_ui_stall_ms_max": max(idle_gaps or [0]),
    }


def in_fresh_process(function: str, call_args: list) -> dict:
    """Each measure gets a process of its own: memory figures are not the sum of what ran before."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", function, json.dumps(call_args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=3000,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{function} failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def measure_organize(images: int, hashes: int, threshold: int = 6) -> dict:
    """Perceptual hashes of `images` real images against decoding their thumbnails alone, and grouping `hashes`
    synthetic hashes (random, with one near copy per hundred) at `threshold` bits: CPU seconds, this process."""
    import random

    from PySide6.QtGui import QImageReader

    from services.emulator import Painter
    from services.imaging import check_image
    from services.library import Library, similar
    from services.types import GenerationRequest, ReceivedImage

    painter = Painter()
    with tempfile.TemporaryDirectory() as folder:
        library = Library(Path(folder) / "library").open()
        for n in range(images):
            request = GenerationRequest(f"picture {n}", "gemini-3.1-flash-image")
            gid = library.begin(request, endpoint="bench", protocol="generateContent")
            data = painter.png(request.prompt, 768, 512)
            mime, width, height = check_image(data)
            library.save_image(gid, 0, ReceivedImage(data, mime, width, height), request=request, endpoint="bench")
            library.finish(gid, status="ok")
        thumbs = [library.thumbnail_path(r.sha256) for r in library.gallery()]
        started = time.process_time()
        for thumb in thumbs:
            QImageReader(str(thumb)).read()
        decode_s = time.process_time() - started
        started = time.process_time()
        hashed = library.compute_hashes()
        hash_s = time.process_time() - started
        library.close()
    rng = random.Random(7)
    values = [rng.getrandbits(64) for _ in range(hashes)]
    values += [v ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)) for v in values[: hashes // 100]]
    started = time.process_time()
    groups = similar.groups(values, threshold)
    group_s = time.process_time() - started
    return {
        "organize_images": hashed,
        "thumbnail_decode_cpu_s": round(decode_s, 3),
        "phash_cpu_s": round(hash_s, 3),
        "phash_ms_per_image": round(1000 * hash_s / max(1, hashed), 2),
        "group_hashes": len(values),
        "group_threshold": threshold,
        "groups_found": len(groups),
        "group_cpu_s": round(group_s, 3),
    }


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        from services.app import share_the_gil_quickly, tune_memory

        tune_memory()  # as main.py does: each measure runs in a process set up like the window's
        share_the_gil_quickly()  # as ui/app.py does
        function, call_args = sys.argv[2], json.loads(sys.argv[3])
        if function in ("measure_startup", "measure_gallery", "measure_window_stall"):
            call_args[0] = Path(call_args[0])
        print(json.dumps(globals()[function](*call_args)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a reduced smoke run (CI)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--images", type=int, help="library size (default 100,000; 2,000 with --quick)")
    parser.add_argument("--only", help="comma-separated measures: startup, ingest, network, gallery, window")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "atelier-bench"))
    parser.add_argument("--batch-ingest", type=int, metavar="N", help="only: ingest an N-image batch results file")
    parser.add_argument("--batch-size", default="512", help="image size for --batch-ingest (512, 1K, 2K)")
    parser.add_argument("--import-folder", type=int, metavar="N", help="only: add a folder of N A1111 PNGs (20000)")
    parser.add_argument(
        "--organize",
        type=int,
        metavar="N",
        help="only the organize figures: perceptual hashes of N images, groups among 100,000 hashes",
    )
    parser.add_argument("--hashes", type=int, default=100_000, help="synthetic hashes to group (with --organize)")
    args = parser.parse_args()
    if args.batch_ingest:
        figures = in_fresh_process("measure_batch_ingest", [args.batch_ingest, args.batch_size])
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))
        return 0
    if args.import_folder:
        figures = in_fresh_process("measure_import", [args.import_folder, args.workdir])
        print(json.dumps(figures) if args.json else ", ".join(f"{k}={v}" for k, v in figures.items()))
        return 0
    if args.organize:
        print(json.dumps(in_fresh_process("measure_organize", [args.organize, min(args.hashes, 100_000)])))
        return 0
    images = args.images or (2_000 if args.quick else 100_000)
    workdir = Path(args.workdir)
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    log(f"building or reusing a {images:,}-image library in {workdir}…")
    started = time.perf_counter()
    library = build_library(workdir / f"library-{images}", images)
    figures: dict = {"images": images, "quick": args.quick, "library_build_s": round(time.perf_counter() - started, 1)}
    only = set((args.only or "startup,ingest,network,gallery,window").split(","))
    if "startup" in only:
        log("start-up…")
        figures.update(in_fresh_process("measure_startup", [str(library), 3 if args.quick else 5]))
    if "ingest" in only:
        log("ingest…")
        figures.update(in_fresh_process("measure_ingest", [3 if args.quick else 8]))
    if "network" in only:
        log("network: parallel requests, UI stalls, memory growth…")
        figures.update(
            in_fresh_process(
                "measure_network", [0.5 if args.quick else 2.0, 8 if args.quick else 100, 8 if args.quick else 100]
            )
        )
    if "gallery" in only:
        log("gallery and search…")
        figures.update(
            in_fresh_process(
                "measure_gallery",
                [str(library), 10 if args.quick else 50, 10 if args.quick else 50, 20 if args.quick else 400],
            )
        )
    if "window" in only:
        log("the window while jobs arrive, the selection moves, images are deleted and found…")
        figures.update(in_fresh_process("measure_window_stall", [str(library)]))
    figures = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"\n{'figure':<22} {'value':>10}  {'target':>8}")
    for key, (op, bound) in TARGETS.items():
        value = figures.get(key)
        if value is None:
            continue
        met = value <= bound if op == "<=" else value >= bound
        mark = "" if args.quick else ("ok" if met else "MISSED")
        print(f"{key:<22} {value:>10}  {op} {bound:<6} {mark}")
    extras = {k: v for k, v in figures.items() if k not in TARGETS}
    print("\n" + ", ".join(f"{k}={v}" for k, v in extras.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
