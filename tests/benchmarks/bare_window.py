"""The baseline for start-up: a bare PySide6 window (a QLabel), timed to its first paint like Atelier is."""

import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel

app = QApplication(sys.argv[:1])
label = QLabel("bare")


class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            print(f"first-paint {time.time():.6f}", flush=True)
            QTimer.singleShot(0, app.quit)
        return False


first_paint = FirstPaint()  # referenced: a collected filter is silently removed
label.installEventFilter(first_paint)
label.show()
app.exec()
