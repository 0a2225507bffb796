"""Refine threads in the real window, offscreen, against the emulator on loopback (#13): refine mode, a refine sent
from the window with its conversation, a branch and the viewer's thread strip, an Imagen image, the cost, a retry."""

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from services import pricing
from services.emulator import Fault, google_error
from services.library import GalleryRow as R
from services.status import Status
from tests import test_window, test_window_live
from tests.test_window import generate, press_on_gallery
from ui.refine_widgets import COMPACT_WIDTH, RefineCost, ThreadStrip, Turn, refine_button_text

MODEL = "gemini-3.1-flash-image"
services, window = test_window.services, test_window.window  # the window on the offline demo


def model_calls(server) -> list:
    return [r for r in server.requests if r.path.endswith(("generateContent", "GenerateContent"))]


def show_image(qtbot, window, image_id: int) -> None:
    """Selects the image in the gallery and waits until the viewer and its thread strip have caught up."""
    model = window.browser.gallery_model
    qtbot.waitUntil(lambda: model.row_of(image_id) is not None, timeout=5000)
    window.browser.gallery.setCurrentIndex(model.index(model.row_of(image_id), 0))
    shown(qtbot, window, image_id)


def shown(qtbot, window, image_id: int) -> None:
    details = window.details
    qtbot.waitUntil(lambda: details.row is not None and details.row[R.IMAGE_ID] == image_id, timeout=5000)
    qtbot.waitUntil(lambda: details.entry is not None and not window.refine.tasks.pending(), timeout=5000)
    qtbot.waitUntil(details.viewer.has_image, timeout=5000)


def enter_refine(qtbot, window) -> None:
    press_on_gallery(qtbot, window, Qt.Key.Key_R)
    panel = window.panel
    qtbot.waitUntil(lambda: panel.refining is not None and panel.refine_cost is not None, timeout=10_000)


def refine(qtbot, window, prompt: str):
    """Types the instruction in refine mode, presses Ctrl+Return, waits for the refine to finish."""
    panel = window.panel
    assert panel.refining is not None
    QTest.keyClicks(panel.prompt, prompt)
    before = window.refine.last_job
    QTest.keyClick(panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.refine.last_job is not before, timeout=10_000)
    job = window.refine.last_job
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    return job


def test_r_and_the_viewer_button_enter_refine_mode_showing_the_parent_and_esc_or_x_leave(qtbot, window):
    job = generate(qtbot, window, "a lighthouse at dusk", count=2)
    panel = window.panel
    type_draft = "a draft I was writing"
    panel.prompt.setPlainText(type_draft)
    second = next(i for i in job.images if i.index == 1)  # the images of a job arrive in any order
    show_image(qtbot, window, second.image_id)
    enter_refine(qtbot, window)
    target = panel.refining
    assert (target.generation_id, target.image_index) == (job.generation_id, 1)
    assert (
        panel.refine_bar.isVisible() and panel.refine_bar.caption.text() == "Refining image 2 of “a lighthouse at dusk”"
    )
    qtbot.waitUntil(lambda: panel.refine_bar.thumbnail.pixmap() is not None, timeout=5000)
    assert not panel.refine_bar.thumbnail.pixmap().isNull()
    assert panel.generate_button.text().startswith("Refine") and panel.prompt.toPlainText() == ""
    assert panel.prompt.hasFocus()  # ready for the instruction
    QTest.keyClick(panel.prompt, Qt.Key.Key_Escape)
    assert panel.refining is None and not panel.refine_bar.isVisible()
    assert panel.generate_button.text().startswith("Generate") and panel.prompt.toPlainText() == type_draft

    viewer = window.details.viewer
    assert viewer.refine_button.isVisible()
    qtbot.mouseClick(viewer.refine_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.refining is not None, timeout=5000)
    assert panel.refining.image_index == 1
    qtbot.mouseClick(panel.refine_bar.close_button, Qt.MouseButton.LeftButton)
    assert panel.refining is None and not panel.refine_bar.isVisible()
    viewer.setFocus()
    QTest.keyClick(viewer, Qt.Key.Key_R)  # the shortcut works on the viewer too
    qtbot.waitUntil(lambda: panel.refining is not None, timeout=5000)
    QTest.keyClick(panel.prompt, Qt.Key.Key_Escape)
    assert panel.refining is None
    QTest.keyClicks(panel.prompt, "r")  # typing an R in the prompt types it: no refine
    assert panel.refining is None and panel.prompt.toPlainText() == "r" + type_draft
    image_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Image")
    assert window.refine.action in image_menu.actions() and window.refine.action.shortcut().toString() == "R"


def test_a_two_turn_refine_from_the_window_sends_the_earlier_turns_and_links_its_parent(qtbot, window):
    server = window.services.demo_server()
    root = generate(qtbot, window, "a lighthouse at dusk")
    show_image(qtbot, window, root.images[0].image_id)
    enter_refine(qtbot, window)
    second = refine(qtbot, window, "make the sky stormier")
    assert second.status is Status.OK, second.message
    assert window.panel.refining is None  # sent: the editor is back to generating
    first_body = model_calls(server)[-1].body["contents"]
    assert [c["role"] for c in first_body] == ["user", "model", "user"]
    assert first_body[0]["parts"] == [{"text": "a lighthouse at dusk"}]
    assert first_body[2]["parts"] == [{"text": "make the sky stormier"}]
    assert any("thoughtSignature" in p for p in first_body[1]["parts"])
    library = window.library
    assert library.generation(second.generation_id).as_json()["parent_generation_id"] == root.generation_id
    shown(qtbot, window, second.images[0].image_id)  # the result is selected when it arrives

    enter_refine(qtbot, window)
    assert window.panel.refining.generation_id == second.generation_id
    third = refine(qtbot, window, "add a gull")
    assert third.status is Status.OK, third.message
    body = model_calls(server)[-1].body["contents"]
    assert [c["role"] for c in body] == ["user", "model", "user", "model", "user"]
    assert body[:3] == first_body  # the earlier turns again, byte for byte
    assert body[4]["parts"] == [{"text": "add a gull"}]
    entry = library.generation(third.generation_id).as_json()
    assert (entry["parent_generation_id"], entry["thread_id"]) == (second.generation_id, root.generation_id)


def test_refining_the_same_image_twice_branches_and_the_strip_opens_and_branches_from_a_turn(qtbot, window):
    root = generate(qtbot, window, "a red fox in a meadow")
    show_image(qtbot, window, root.images[0].image_id)
    assert not window.refine.strip.isVisible()  # one image, no thread yet
    enter_refine(qtbot, window)
    left = refine(qtbot, window, "in snow")
    show_image(qtbot, window, root.images[0].image_id)
    enter_refine(qtbot, window)
    right = refine(qtbot, window, "in autumn leaves")
    assert left.status is Status.OK and right.status is Status.OK
    assert window.library.children(root.generation_id) == [left.generation_id, right.generation_id]

    shown(qtbot, window, right.images[0].image_id)
    strip = window.refine.strip
    qtbot.waitUntil(lambda: strip.isVisible() and len(strip.cards) == 2, timeout=5000)
    first, last = strip.cards
    assert first.turn.generation_id == root.generation_id and last.turn.generation_id == right.generation_id
    assert first.badge.isVisible() and first.badge.text() == "2 branches"
    assert first.words.text() == "a red fox in a meadow" and last.words.text() == "in autumn leaves"
    assert first.picture.pixmap() is not None and not first.picture.pixmap().isNull()
    assert strip.current_id == right.generation_id
    assert strip.geometry().bottom() == window.details.viewer.height() - 1  # docked under the picture

    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)  # open a turn
    shown(qtbot, window, root.images[0].image_id)
    assert window.browser.current_row()[R.IMAGE_ID] == root.images[0].image_id
    qtbot.waitUntil(lambda: len(strip.cards) == 1 and strip.isVisible(), timeout=5000)  # a root with 2 refines

    shown(qtbot, window, root.images[0].image_id)
    show_image(qtbot, window, left.images[0].image_id)
    qtbot.waitUntil(lambda: len(strip.cards) == 2 and strip.current_id == left.generation_id, timeout=5000)
    qtbot.mouseClick(strip.cards[0].branch_button, Qt.MouseButton.LeftButton)  # branch from the root turn
    qtbot.waitUntil(lambda: window.panel.refining is not None and window.panel.refine_cost is not None, timeout=5000)
    assert window.panel.refining.generation_id == root.generation_id
    third = refine(qtbot, window, "at night")
    assert window.library.generation(third.generation_id).as_json()["parent_generation_id"] == root.generation_id
    assert len(window.library.children(root.generation_id)) == 3


def test_refining_an_imagen_image_says_a_new_conversation_starts(qtbot, window):
    server = window.services.demo_server()
    job = generate(qtbot, window, "a teapot", model="imagen-4.0-generate-001")
    assert job.status is Status.OK, job.message
    show_image(qtbot, window, job.images[0].image_id)
    enter_refine(qtbot, window)
    panel = window.panel
    assert "no conversation to continue" in panel.refine_bar.detail.text()
    assert panel.model_selector.current_id().startswith("gemini")  # a refine is a Gemini conversation
    result = refine(qtbot, window, "make it porcelain")
    assert result.status is Status.OK, result.message
    assert window.banner.isVisible() and "no conversation to continue" in window.banner.label.text()
    body = model_calls(server)[-1].body["contents"]
    assert len(body) == 1 and body[0]["parts"][0] == {"text": "make it porcelain"} and len(body[0]["parts"]) == 2
    assert window.library.generation(result.generation_id).as_json()["parent_generation_id"] == job.generation_id


priced = test_window_live.priced  # the window on the emulator, priced like a real endpoint


def cost_of(text: str) -> tuple[float, int]:
    found = re.fullmatch(r"Refine · ≈ \$([\d.]+)\n(\d+) earlier images? sent again", text)
    assert found, text
    return float(found[1]), int(found[2])


@pytest.mark.slow
def test_the_cost_in_refine_mode_counts_the_earlier_images(qtbot, priced):
    window, _server = priced
    root = generate(qtbot, window, "a tree on a hill")
    show_image(qtbot, window, root.images[0].image_id)
    enter_refine(qtbot, window)
    one_cost, one_images = cost_of(window.panel.generate_button.text())
    assert one_images >= 1  # the root's picture goes back with the first refine
    second = refine(qtbot, window, "greener")
    shown(qtbot, window, second.images[0].image_id)
    enter_refine(qtbot, window)
    two_cost, two_images = cost_of(window.panel.generate_button.text())
    # Every earlier image goes again; the price grows with them where the catalog lists the input rate.
    assert two_images > one_images and two_cost >= one_cost
    detail = window.panel.refine_bar.detail.text()
    assert detail.startswith(f"Turn 3 of its conversation: {two_images} earlier image(s)")
    if pricing.price_for(MODEL).input is None:  # said where the price leaves them out
        assert "input price is not listed" in window.panel.refine_bar.detail.toolTip()
    QTest.keyClick(window.panel.prompt, Qt.Key.Key_Escape)
    assert "about $" in window.panel.generate_button.text()  # back to the one-shot price


def test_retry_of_a_failed_refine_sends_its_conversation_again(qtbot, window):
    server = window.services.demo_server()
    root = generate(qtbot, window, "a boat on a lake")
    show_image(qtbot, window, root.images[0].image_id)
    enter_refine(qtbot, window)
    refused = google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    server.script(Fault(status=400, body=refused, match="enerateContent"))
    failed = refine(qtbot, window, "make it red")
    assert failed.status is Status.ERROR and not failed.images
    sent = model_calls(server)[-1].body["contents"]
    assert len(sent) == 3
    window.studio.clear_finished()  # as after a restart: the retry is rebuilt from the library
    assert window.studio.job_of(failed.generation_id) is None
    model = window.browser.gallery_model
    qtbot.waitUntil(lambda: model.row_of(("g", failed.generation_id)) is not None, timeout=5000)
    window.browser.gallery.setCurrentIndex(model.index(model.row_of(("g", failed.generation_id)), 0))
    strip = window.refine.strip  # the failed turn shows its thread: the turn it refined, and itself without image
    turns = lambda: [(c.turn.generation_id, c.turn.failed) for c in strip.cards]  # noqa: E731
    qtbot.waitUntil(lambda: turns() == [(root.generation_id, False), (failed.generation_id, True)], timeout=5000)
    assert strip.isVisible() and strip.cards[-1].turn.image_id is None
    before = len(window.studio.queue.jobs)
    window.actions.actions["retry"].trigger()
    qtbot.waitUntil(lambda: len(window.studio.queue.jobs) == before + 1, timeout=5000)
    again = window.studio.queue.jobs[-1]
    qtbot.waitUntil(lambda: again.finished, timeout=20_000)
    assert again.status is Status.OK, again.message
    assert model_calls(server)[-1].body["contents"] == sent  # the same conversation, byte for byte
    entry = window.library.generation(again.generation_id).as_json()
    assert (entry["parent_generation_id"], entry["thread_id"]) == (root.generation_id, root.generation_id)


def turn(n: int, branches: int = 0) -> Turn:
    return Turn(f"g{n}", 0, n, f"turn {n}: " + "a long instruction about the sky " * 3, f"reply {n}", False, branches)


def test_the_strip_shows_every_turn_in_full_when_it_can_and_compacts_the_earlier_ones_when_narrow(qtbot):
    strip = ThreadStrip()
    qtbot.addWidget(strip)
    strip.resize(1000, 120)
    strip.show()
    strip.set_turns([turn(1, branches=2), turn(2), turn(3)], "g3")
    assert [c.compact for c in strip.cards] == [False, False, False] and all(a.isVisible() for a in strip.arrows)
    strip.resize(320, 120)
    assert [c.compact for c in strip.cards] == [True, True, False] and not any(a.isVisible() for a in strip.arrows)
    first, _, last = strip.cards
    assert first.badge.isVisible() and not first.words.isVisible() and first.width() == COMPACT_WIDTH
    assert last.words.isVisible() and last.width() <= 320 - 2 * COMPACT_WIDTH
    lines = last.words.fontMetrics().lineSpacing()
    assert last.words.text().endswith("…") and last.words.sizeHint().height() <= 2 * lines + 2  # two lines at most
    assert [a.text() for a in first.actions()] == ["Open", "Branch from here"]  # Branch stays in the context menu


def test_the_refine_button_text_counts_the_earlier_images():
    cost = RefineCost(earlier_images=3, base_references=0, model=MODEL)
    assert refine_button_text(cost, MODEL, True, "1K", 0) == "Refine · free (demo)\n3 earlier images sent again"
    one = RefineCost(earlier_images=1, base_references=1, model=MODEL)
    assert refine_button_text(one, MODEL, False, "1K", 0).endswith("\n1 earlier image sent again")
    assert refine_button_text(None, MODEL, False, "1K", 0) == "Refine"
    assert refine_button_text(cost, "no-such-model", False, None, 0).startswith("Refine · price unknown")
