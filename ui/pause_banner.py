"""The banner that says which endpoint's jobs are paused (a quota waiting cannot cure), why, and until when; with a
button to resume by hand. The pause itself lives in the job queue (services/jobs.py)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from services.jobs import Pause
from ui.common import tr
from ui.studio import Studio


def pause_text(pause: Pause, now: datetime | None = None) -> str:
    """One sentence: what is paused, why, and when it resumes."""
    if pause.resume_at is None:
        until = tr("until you resume it")
    else:
        at = datetime.fromtimestamp(pause.resume_at)
        same_day = at.date() == (now or datetime.now()).date()
        until = tr("until {0}").format(at.strftime("%H:%M" if same_day else "%a %d %b %H:%M"))
    return tr("Jobs for {0} are paused {1}: {2}").format(pause.endpoint, until, pause.reason)


class PauseBanner(QFrame):
    def __init__(self, studio: Studio, parent=None):
        super().__init__(parent)
        self.studio = studio
        self.pauses: dict[str, Pause] = {}
        self.setObjectName("pauseBanner")
        self.setStyleSheet(
            "QFrame#pauseBanner { border-left: 4px solid #c98a1a; background: palette(alternate-base); }"
        )
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.resume_button = QPushButton(tr("Resume now"), self)
        self.resume_button.setToolTip(tr("Send the paused jobs again now"))
        self.resume_button.clicked.connect(self.resume_all)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.resume_button)
        studio.endpointPaused.connect(self._paused)
        studio.endpointResumed.connect(self._resumed)
        self.hide()

    def _paused(self, pause: Pause) -> None:
        self.pauses[pause.endpoint] = pause
        self._update()

    def _resumed(self, endpoint: str) -> None:
        self.pauses.pop(endpoint, None)
        self._update()

    def resume_all(self) -> None:
        for endpoint in list(self.pauses):
            self.studio.resume(endpoint)

    def _update(self) -> None:
        self.label.setText("\n".join(pause_text(p) for p in self.pauses.values()))
        self.setVisible(bool(self.pauses))
