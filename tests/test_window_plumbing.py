"""What keeps the GUI thread free: settings saved from a worker, the key read once, one HTTP client per endpoint,
and gallery day headers kept up to date row by row."""

import asyncio
import collections
import random
import threading
from datetime import datetime, timedelta

import pytest

from services import endpoints
from services.http_pool import HttpPool
from services.keys import KeyStore
from services.library import GalleryRow as R
from services.settings import Settings
from tests.conftest import run
from tests.helpers import demo_endpoint


def test_an_overtaken_save_does_not_write_its_older_copy(tmp_path, monkeypatch):
    import services.settings as settings_module

    settings = Settings(tmp_path / "settings.json")
    settings.set("model", "old")
    first_write_started, release_first = threading.Event(), threading.Event()
    real_write = settings_module.write_atomically
    calls = []

    def write(path, data, **kw):
        calls.append(data)
        if len(calls) == 1:  # the first save (the old values) is slow to reach the disk
            first_write_started.set()
            release_first.wait(5)
        real_write(path, data, **kw)

    monkeypatch.setattr(settings_module, "write_atomically", write)
    slow = threading.Thread(target=settings.save)
    slow.start()
    assert first_write_started.wait(5)
    settings.set("model", "new")  # the GUI thread changes a value while the first save is on its way
    fast = threading.Thread(target=settings.save)
    fast.start()
    fast.join(0.5)
    release_first.set()
    slow.join(5)
    fast.join(5)
    assert Settings(tmp_path / "settings.json").get("model") == "new"


def test_saving_from_a_worker_while_values_change(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    errors = []

    def saver():
        for _ in range(30):
            try:
                settings.save()
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(exc)

    thread = threading.Thread(target=saver)
    thread.start()
    for i in range(3000):
        settings.set(f"key{i % 50}", {"n": i})
    thread.join(30)
    settings.save()
    assert errors == [] and Settings(tmp_path / "settings.json").get("key49") == {"n": 2999}


def test_the_key_is_read_once_and_again_only_after_it_changes(tmp_path, monkeypatch):
    store = KeyStore(tmp_path)
    reads = []
    real_read = store._read_file

    def counted():
        reads.append(1)
        return real_read()

    monkeypatch.setattr(store, "_read_file", counted)
    monkeypatch.setattr(store, "keychain_available", lambda: False)
    store.set("google", "first-key", allow_file=True)
    reads.clear()
    assert store.get("google") == ("first-key", "file")
    assert store.get("google") == ("first-key", "file")
    store.status("google")
    assert len(reads) == 1 and store.cached("google") == ("first-key", "file")
    store.set("google", "second-key", allow_file=True)
    assert store.cached("google") is None
    assert store.get("google") == ("second-key", "file")
    store.clear("google")
    assert store.get("google") == (None, None)


def test_one_http_client_per_endpoint_reused_and_closed(emulator):
    from services.client import GeminiClient

    async def main():
        pool = HttpPool()
        endpoint = demo_endpoint(emulator)
        for _ in range(3):
            client = GeminiClient(endpoint, None, http=pool.client_for(endpoint), timeout=10)
            await client.list_models()
            await client.aclose()  # a borrowed client stays open
        other = pool.client_for(endpoints.google())
        same = pool.client_for(endpoint)
        created = pool.created
        await pool.aclose()
        return created, same, other

    created, same, other = run(main())
    assert created == 2 and same.is_closed and other.is_closed


def test_jobs_share_the_endpoints_client(library, emulator):
    from services.types import GenerationRequest
    from tests.helpers import service_for

    async def main():
        pool = HttpPool()
        service = service_for(library, http=pool)
        for i in range(3):
            await service.generate(
                GenerationRequest(f"shared {i}", "gemini-3.1-flash-image"), endpoint=demo_endpoint(emulator), key=None
            )
        created = pool.created
        await pool.aclose()
        return created

    assert run(main()) == 1


# --- day headers --------------------------------------------------------------------------------------------


def rows_over_days(count: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, 12).timestamp()
    times = sorted((start + rng.randint(0, 6) * 86400 + rng.randint(0, 3600) for _ in range(count)), reverse=True)
    return [(i + 1, f"g{i}", t, "ok", f"sha{i}", f"p{i}.png", 10, 10, 0, "m", None) for i, t in enumerate(times)]


def show_gallery(qtbot, model, rows, size=(800, 600), edge=None):
    """A shown GalleryView on `model` holding `rows`, `size` big, with tiles of `edge` (the view's own when None)."""
    from ui.gallery import GalleryListing, GalleryView

    view = GalleryView()
    qtbot.addWidget(view)
    model.set_rows(GalleryListing.of(rows))
    view.setModel(model)
    if edge:
        view.set_edge(edge)
    view.resize(*size)
    view.show()
    return view


def headers(model) -> list[int]:
    return [i for i in range(model.rowCount()) if model.starts_day(i)]


def expected_headers(rows) -> list[int]:
    from ui.gallery_listing import compute_day_starts

    return sorted(compute_day_starts(rows))


@pytest.fixture
def gallery_model(qapp, library):
    from ui.gallery import GalleryListing, GalleryModel

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    model = GalleryModel(library)
    model.set_rows(GalleryListing.of([]))
    yield model
    model.loader.stop()
    asyncio.set_event_loop(None)
    loop.close()


@pytest.mark.parametrize("seed", range(8))
def test_day_headers_follow_prepends_removals_and_undos(gallery_model, seed):
    """Compared after every step with the headers computed over the whole list from scratch."""
    from ui.gallery import GalleryListing, key_of

    everything = rows_over_days(60, seed)
    rng = random.Random(seed)
    model = gallery_model
    model.set_rows(GalleryListing.of(list(everything[30:])))
    pending = list(everything[:30])  # newer rows, arriving in order
    removed: list[tuple] = []
    for _ in range(80):
        action = rng.choice(["prepend", "remove", "undo"])
        if action == "prepend" and pending:
            k = rng.randint(1, 4)
            batch, pending = pending[-k:], pending[:-k]  # the oldest of the newer rows arrive first
            model.prepend(batch)
        elif action == "remove" and model.rowCount():
            picked = rng.sample(model.rows, min(len(model.rows), rng.randint(1, 3)))
            model.remove_keys({key_of(r) for r in picked})
            removed.append(picked)
        elif action == "undo" and removed:
            model.insert_rows(removed.pop())
        assert headers(model) == expected_headers(model.rows)
        assert all(model.row_of(key_of(r)) == i for i, r in enumerate(model.rows))
    assert model.rows == sorted(model.rows, key=lambda r: (-r[R.CREATED_AT], -r[R.IMAGE_ID]))


def test_a_new_image_on_a_new_day_moves_the_header(gallery_model):
    from ui.gallery import GalleryListing

    yesterday = (datetime.now() - timedelta(days=1)).timestamp()
    old = [(1, "g1", yesterday, "ok", "s1", "a.png", 1, 1, 0, "m", None)]
    gallery_model.set_rows(GalleryListing.of(old))
    same_day = (2, "g2", yesterday + 1, "ok", "s2", "b.png", 1, 1, 0, "m", None)
    gallery_model.prepend([same_day])
    assert headers(gallery_model) == [0]  # one day, one header, on the newest row
    today = (3, "g3", datetime.now().timestamp(), "ok", "s3", "c.png", 1, 1, 0, "m", None)
    gallery_model.prepend([today])
    assert headers(gallery_model) == [0, 1]


def calls_from_qt(steps) -> collections.Counter:
    """The Python functions Qt called, by name, while `steps` (C++ callables, no Python of their own) ran: each is a
    trip from C++ into Python, which waits for the GIL whenever a worker thread holds it."""
    import sys

    counts: collections.Counter = collections.Counter()
    here = sys._getframe()

    def profile(frame, event, _arg):
        if event == "call" and frame.f_back is here:
            counts[frame.f_code.co_name] += 1

    sys.setprofile(profile)
    try:
        for step in steps:
            step()
    finally:
        sys.setprofile(None)
    return counts


def test_the_grid_calls_python_per_painted_tile_not_per_row(qtbot, gallery_model):
    """QListView asks the model for an index, so for the row count, for every row it lays out; a Python rowCount
    made that 100,000 trips into Python per layout, each waiting for the GIL while a worker held it (issue #10's
    stall: one 500-row batch took 580 ms in a test of it). The count is now the C++ model's, and a paint is one trip
    for all its tiles. A changed tile is repainted, not laid out again: the tiles of a uniform grid cannot move."""
    from PySide6.QtWidgets import QApplication

    model = gallery_model
    view = show_gallery(qtbot, model, rows_over_days(3000, 1))
    qtbot.waitExposed(view)
    laid_out = calls_from_qt([view.doItemsLayout] + [QApplication.processEvents] * 40)
    assert view.visualRect(model.index(2999, 0)).isValid()  # every row laid out
    assert sum(laid_out.values()) < 300, laid_out.most_common(3)  # 3,000 rows, a dozen tiles painted
    view.setCurrentIndex(model.index(5, 0))
    model.dataChanged.emit(model.index(3, 0), model.index(3, 0))  # a thumbnail arrived
    model.dataChanged.emit(model.index(0, 0), model.index(2999, 0))  # every day chip may have moved
    repainted = calls_from_qt([QApplication.processEvents] * 10)
    assert 0 < sum(repainted.values()) < 50, repainted.most_common(3)
    assert repainted["paintEvent"] >= 1 and repainted["paint"] == 0  # the tiles of a paint: one trip, not one each
    assert view.visualRect(model.index(2999, 0)).isValid()


def test_a_replaced_gallery_model_is_freed_without_the_cycle_collector(qapp, library):
    """A model's rows (45 MB at 100,000 images) went when the model went, not at CPython's next full collection:
    the thumbnail loader held the model through a bound method, a cycle only the collector could free. Its
    workers end with it."""
    import gc
    import weakref

    from ui.gallery import GalleryListing, GalleryModel

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    gc.disable()
    try:
        model = GalleryModel(library)
        model.set_rows(GalleryListing.of(rows_over_days(500, 2)))
        gone = weakref.ref(model)
        threads = list(model.loader._threads)
        del model
        assert gone() is None
        for thread in threads:
            thread.join(5)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        gc.enable()
        asyncio.set_event_loop(None)
        loop.close()


def test_the_first_rows_shown_cover_three_screens_of_the_smallest_tiles(qtbot):
    """A search shows FIRST_ROWS rows before the rest is read, or three screens of the view when they hold more."""
    from ui.gallery import FIRST_ROWS, GalleryView

    view = GalleryView()
    qtbot.addWidget(view)
    view.resize(900, 760)
    view.show()
    view.set_edge(192)
    assert view.first_rows() == FIRST_ROWS
    view.resize(3000, 2000)  # a 4K display's gallery at the smallest tiles
    view.set_edge(96)
    qtbot.waitUntil(lambda: view.viewport().width() > 2500, timeout=5000)
    columns = view.viewport().width() // 108
    assert view.first_rows() == 3 * columns * (view.viewport().height() // 108 + 1) > FIRST_ROWS


def test_a_big_replaced_listing_is_freed_in_a_worker_and_one_still_held_is_left_whole(gallery_model):
    """Dropping 98,000 rows at once is ~40 ms of deallocation on the GUI thread: a replaced listing's rows are
    freed by a worker, a slice at a time; a list someone else still holds is let go of, never emptied."""
    import time
    import weakref

    from ui.gallery import DISPOSE_FROM, GalleryListing

    class Probe:  # in the last row: freed only when the worker has emptied the list
        pass

    probe, freed_in = Probe(), []
    rows = rows_over_days(DISPOSE_FROM, 3)
    rows[-1] = (*rows[-1][:-1], probe)
    freed = weakref.ref(probe, lambda _ref: freed_in.append(threading.current_thread().name))
    gallery_model.set_rows(GalleryListing.of(rows))
    del rows, probe
    gallery_model.set_rows(GalleryListing.of(rows_over_days(3, 1)))
    deadline = time.monotonic() + 5
    while freed() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert freed_in == ["atelier-dispose"]  # freed, and not by the thread that replaced the listing
    held = rows_over_days(DISPOSE_FROM, 3)
    gallery_model.set_rows(GalleryListing.of(held))
    gallery_model.set_rows(GalleryListing.of(rows_over_days(3, 1)))
    time.sleep(0.2)
    assert len(held) == DISPOSE_FROM  # still the caller's, whole


def test_a_gallery_load_that_is_given_up_stops_its_workers_read(gallery_model, library):
    """Ten searches typed in a row left ten listings of up to 100,000 rows reading at once, holding the GIL the
    window needed (issue #10's search stall): a load closed before its full listing tells the worker to stop."""
    from services.library import HistoryQuery
    from tests.test_library import save
    from ui.gallery import load_gallery

    for n in range(5):
        save(library, prompt=f"fox {n}")
    readers: list = []
    real = library.gallery_with_ratings

    def watched(query, limit=None, cancelled=None):
        readers.append(cancelled)
        return real(query, limit, cancelled=cancelled)

    library.gallery_with_ratings = watched
    model = gallery_model

    async def first_screen_then_give_up():
        loads = load_gallery(model, library, HistoryQuery(), first_rows=2)
        assert await loads.__anext__() is False  # the first 2 rows shown, the rest to come
        assert not readers[0]()
        await loads.aclose()  # what cancelling the browser's task does to it

    asyncio.get_event_loop().run_until_complete(asyncio.wait_for(first_screen_then_give_up(), 10))
    assert readers[0]() and model.rowCount() == 2


def test_a_paint_asks_for_its_tiles_thumbnails_at_once(qtbot, gallery_model):
    """Each request took the thumbnail workers' lock, and each handover of that lock is a trip through the
    scheduler while the workers decode: a paint hands over all of its tiles' requests in one."""
    model = gallery_model
    batches: list[list] = []
    real = model.loader.request_many
    model.loader.request_many = lambda requests: (batches.append(list(requests)), real(requests))[1]
    _view = show_gallery(qtbot, model, rows_over_days(200, 3))  # held: qtbot keeps a weak reference only
    qtbot.waitUntil(lambda: bool(batches), timeout=5000)
    asked = [sha for batch in batches for _, sha, _, _ in batch]
    assert len(asked) >= 6 and len(set(asked)) == len(asked)  # every tile on screen, each once
    assert len(batches) < len(asked)


@pytest.mark.parametrize("edge", [None, 96, 192])
def test_the_rows_a_paint_looks_at_hold_every_tile_it_shows(qtbot, gallery_model, edge):
    """rows_in finds the tiles of an area from Qt's positions of two tiles; compared with every row's rectangle,
    scrolled anywhere, for the default tiles and the thumbnail slider's sizes."""
    from PySide6.QtCore import QRect

    from ui.gallery_delegate import rows_in

    model = gallery_model
    rng = random.Random(edge)
    view = show_gallery(qtbot, model, rows_over_days(500, 4), (900, 640), edge)
    qtbot.waitUntil(lambda: view.visualRect(model.index(499, 0)).isValid(), timeout=5000)
    bar = view.verticalScrollBar()
    top = view.visualRect(model.index(0, 0)).top()
    columns = next(r for r in range(1, 500) if view.visualRect(model.index(r, 0)).top() != top)
    for _ in range(12):
        bar.setValue(rng.randint(0, bar.maximum()))
        area = QRect(rng.randint(0, 800), rng.randint(0, 600), rng.randint(1, 400), rng.randint(1, 400))
        shown = {r for r in range(500) if view.visualRect(model.index(r, 0)).intersects(area)}
        found = rows_in(view, area)
        assert shown <= set(found)
        if shown:  # whole lines, the ones the area meets
            assert min(shown) - columns < found.start and found.stop <= max(shown) + 1 + columns


@pytest.mark.parametrize("width", [500, 777, 1200])
def test_the_tiles_of_a_line_share_the_gallery_s_width(qtbot, gallery_model, width):
    """The space a line of tiles leaves is spread between its tiles, not left in one strip on the right: the cells
    fill the width, and each tile is centred in its cell at the slider's size."""
    from ui.gallery_delegate import tile_rect

    view = show_gallery(qtbot, gallery_model, rows_over_days(60, 5), (width, 500), 150)
    qtbot.waitUntil(lambda: view.visualRect(gallery_model.index(59, 0)).isValid(), timeout=5000)
    top = view.visualRect(gallery_model.index(0, 0)).top()
    line = [view.visualRect(gallery_model.index(r, 0)) for r in range(60)]
    line = [cell for cell in line if cell.top() == top]
    assert len(line) == max(1, (view.viewport().width() - 1) // 162)  # as many as tiles of 150 (+12) fit
    assert view.viewport().width() - line[-1].right() - 1 < len(line) + 1  # what is left: under a pixel a column
    for cell in line:
        tile = tile_rect(cell, 150)
        assert tile.width() == 154 and abs((tile.left() - cell.left()) - (cell.right() - tile.right())) <= 1
