"""Small shared pieces of the window: translation, async helpers, formatting."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication

if TYPE_CHECKING:
    import asyncio  # imported where used: the window's first paint comes before asyncio (about 40 ms)

log = logging.getLogger("atelier.ui")


def tr(text: str) -> str:
    return QCoreApplication.translate("Atelier", text)


class TaskSlots:
    """Named slots for background tasks: starting a slot again cancels its previous run (FeelUOwn's task.py).

    Every task is referenced until done; failures go to `on_error` as a sentence, never to a console.
    """

    def __init__(self, on_error: Callable[[str], None]):
        self._tasks: dict[str, asyncio.Task] = {}
        self._anonymous: set[asyncio.Task] = set()
        self._on_error = on_error

    def run(self, name: str | None, coro: Awaitable) -> asyncio.Task:
        import asyncio

        if name and name in self._tasks and not self._tasks[name].done():
            self._tasks[name].cancel()
        task = asyncio.ensure_future(coro)
        if name:
            self._tasks[name] = task
        else:
            self._anonymous.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._anonymous.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("background task failed", exc_info=error)
            self._on_error(str(error) or type(error).__name__)

    def cancel_all(self) -> None:
        for task in [*self._tasks.values(), *self._anonymous]:
            task.cancel()

    def running_names(self) -> set[str]:
        return {name for name, task in self._tasks.items() if not task.done()}

    def pending(self) -> list[asyncio.Task]:
        return [t for t in [*self._tasks.values(), *self._anonymous] if not t.done()]


class OneAtATime:
    """Runs a blocking function in a worker, one call at a time. A worker cannot stop half-way, so a view that
    starts one per selection (an arrow held over the grid) queued one per image it passed, and the GUI thread
    waited for a core behind them; here a call waits for the one in flight, and a call cancelled while it waits
    (the selection moved on) never starts."""

    def __init__(self):
        self._running: asyncio.Future | None = None

    async def __call__(self, function: Callable, *args):
        import asyncio

        while self._running is not None:
            await asyncio.wait([self._running])  # a cancellation here leaves the running call alone
        running = self._running = asyncio.get_running_loop().run_in_executor(None, function, *args)
        try:
            return await asyncio.shield(running)
        finally:
            if running.done():
                self._running = None
            else:  # cancelled while the worker runs: the next call waits for it to be done
                running.add_done_callback(self._ended)

    def _ended(self, running: asyncio.Future) -> None:
        if self._running is running:
            self._running = None
        if not running.cancelled():
            running.exception()  # retrieved: a failure nobody waited for is not an error at exit


def money(value: float | None) -> str:
    if value is None:
        return "?"
    return f"${value:.3f}" if value < 1 else f"${value:.2f}"


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def day_of(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp)
    today = datetime.now().date()
    if moment.date() == today:
        return tr("Today")
    if (today - moment.date()).days == 1:
        return tr("Yesterday")
    return moment.strftime("%a %d %b %Y")


async def ask(parent, icon, title: str, text: str, buttons: list[str]) -> int | None:
    """A message box shown with open(), never exec() (a nested loop inside a coroutine): the index of the clicked
    button in `buttons`, or None when the box was closed. The button object is compared, never its text, which the
    platform may have given an "&" accelerator."""
    import asyncio

    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    added = [
        box.addButton(label, QMessageBox.ButtonRole.AcceptRole if i == 0 else QMessageBox.ButtonRole.RejectRole)
        for i, label in enumerate(buttons)
    ]
    answer: asyncio.Future = asyncio.get_event_loop().create_future()

    def clicked(button) -> None:
        if not answer.done():
            answer.set_result(next((i for i, b in enumerate(added) if b is button), None))

    box.buttonClicked.connect(clicked)
    box.finished.connect(lambda _code: answer.done() or answer.set_result(None))
    box.open()
    try:
        return await answer
    finally:
        box.deleteLater()
