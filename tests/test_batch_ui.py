"""The Batches panel, offscreen, against the emulator's batch mode on loopback."""

import asyncio

from PySide6.QtCore import Qt

from services.batch import BatchService
from services.catalog import Catalog
from services.endpoints import custom
from services.prompt_list import parse
from ui.batches import COLUMNS, BatchesPanel
from ui.batches_menu import indicator_text

CATALOG = Catalog.load()


def submit(qtbot, service, endpoint, text):
    (record, rows), *_ = service.plan(parse(text, CATALOG), endpoint)
    task = asyncio.ensure_future(service.submit(record, rows))
    qtbot.waitUntil(task.done, timeout=10_000)
    return task.result()


def row_of(panel, batch_id):
    for i in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(i)
        if item.data(0, Qt.ItemDataRole.UserRole).batch_id == batch_id:
            return item
    return None


def test_panel_lists_earlier_batches_cancels_and_fetches(qtbot, qloop, emulator, library):
    emulator.batch_turnaround = None
    endpoint = custom(emulator.url, "header")
    service = BatchService(CATALOG, library, min_poll=0.0)
    waiting = submit(qtbot, service, endpoint, "owl\nmoth\n")  # as if sent in an earlier session
    done = submit(qtbot, service, endpoint, "heron\nwren\nfinch\n")
    emulator.complete(done.remote_name)

    panel = BatchesPanel(service, refresh_ms=60_000)
    qtbot.addWidget(panel)
    panel.show()
    panel.refresh()
    qtbot.waitUntil(lambda: row_of(panel, done.batch_id) is not None and not panel.tasks.pending(), timeout=10_000)
    assert row_of(panel, waiting.batch_id).text(1) == "Queued"
    assert row_of(panel, waiting.batch_id).text(0) == "owl (+1 more)"  # what the artist wrote, not an id
    assert waiting.batch_id in row_of(panel, waiting.batch_id).toolTip(0)
    assert row_of(panel, done.batch_id).text(1) == "Ready to fetch"
    bar = panel.tree.itemWidget(row_of(panel, done.batch_id), COLUMNS.index("Progress"))
    assert (bar.value(), bar.maximum(), bar.text()) == (3, 3, "3 of 3 done")

    row_of(panel, waiting.batch_id).setSelected(True)
    assert panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row_of(panel, waiting.batch_id).text(1) == "Cancelled", timeout=10_000)
    assert not panel.cancel_button.isEnabled()

    panel.tree.clearSelection()
    row_of(panel, done.batch_id).setSelected(True)
    with qtbot.waitSignal(panel.imagesSaved, timeout=30_000) as saved:
        qtbot.mouseClick(panel.fetch_button, Qt.MouseButton.LeftButton)
    assert saved.args == [3]
    qtbot.waitUntil(lambda: row_of(panel, done.batch_id).text(4) == "3", timeout=10_000)
    assert row_of(panel, done.batch_id).text(1) == "Finished"
    assert "3 image(s) saved" in panel.message.text()
    assert len(library.history()) == 3
    panel.hide()  # a hidden panel asks no server
    assert not panel.timer.isActive()
    panel.shutdown()


def test_the_status_bar_counts_running_batches_their_progress_and_those_ready_to_fetch(qtbot):
    from services.batch_store import BatchRecord

    def record(state, requests, succeeded=0, failed=0, ingested=False):
        return BatchRecord("b", "m", {"name": "custom"}, 0.0, state=state, requests=requests, succeeded=succeeded,
                           failed=failed, ingested=ingested)  # fmt: skip

    assert indicator_text([]) == ""
    assert indicator_text([record("succeeded", 3, 3, ingested=True)]) == ""
    assert indicator_text([record("running", 40, 11, 1)]) == "1 batch running · 12 of 40 done"
    both = [record("running", 40, 12), record("pending", 4), record("succeeded", 3, 3)]
    assert indicator_text(both) == "2 batches running · 12 of 44 done · 1 ready to fetch"
