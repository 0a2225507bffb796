"""The generate side of the window: prompt editor, model selector, parameters that follow the model, references."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont, QIcon, QImage, QKeySequence, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from services.catalog import DEFAULT_MODEL, ModelInfo
from services.types import ReferenceImage
from ui.common import money, tr

MODEL_ROLE = Qt.ItemDataRole.UserRole + 10


class PromptEditor(QPlainTextEdit):
    """Multi-line; Ctrl+Enter generates; Ctrl+Up/Down recall earlier prompts; pasting an image adds a reference."""

    submitted = Signal()
    imagePasted = Signal(QImage)
    filesDropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.history: list[str] = []
        self._recall = -1
        self._draft = ""
        self.normal_placeholder = tr(
            "Describe the image you want…  (Ctrl+Enter to generate, Ctrl+↑ for earlier prompts)"
        )
        self.setPlaceholderText(self.normal_placeholder)
        self.setTabChangesFocus(True)
        self.setAccessibleName(tr("Prompt"))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.setFont(font)

    def remember(self, prompt: str) -> None:
        prompt = prompt.strip()
        if prompt:
            self.history = [p for p in self.history if p != prompt][-199:] + [prompt]
        self._recall = -1

    def keyPressEvent(self, event):
        mods = event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        if ctrl and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.submitted.emit()
            return
        if ctrl and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down) and self.history:
            self._step_history(-1 if event.key() == Qt.Key.Key_Up else 1)
            return
        super().keyPressEvent(event)

    def _step_history(self, step: int) -> None:
        if self._recall == -1:
            self._draft = self.toPlainText()
            self._recall = len(self.history)
        self._recall = max(0, min(len(self.history), self._recall + step))
        text = self._draft if self._recall == len(self.history) else self.history[self._recall]
        self.setPlainText(text)
        self.moveCursor(self.textCursor().MoveOperation.End)

    def canInsertFromMimeData(self, source):
        return source.hasImage() or source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source):
        if source.hasUrls() and all(u.isLocalFile() for u in source.urls()):
            self.filesDropped.emit([u.toLocalFile() for u in source.urls()])
        elif source.hasImage():
            image = source.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.imagePasted.emit(image)
        else:
            super().insertFromMimeData(source)


class ModelSelector(QComboBox):
    """Models grouped by family, each with its price per image; models this endpoint does not serve are marked."""

    modelChanged = Signal(object)  # ModelInfo

    def __init__(self, parent=None):
        super().__init__(parent)
        self._models: dict[str, ModelInfo] = {}
        self._endpoint = "google"
        self.setModel(QStandardItemModel(self))
        self.setAccessibleName(tr("Model"))
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.currentIndexChanged.connect(self._changed)

    def set_models(self, models: list[ModelInfo], endpoint_name: str, keep: str | None = None) -> None:
        keep = keep or self.current_id()
        self._endpoint = endpoint_name
        self._models = {m.id: m for m in models}
        model: QStandardItemModel = self.model()
        self.blockSignals(True)
        model.clear()
        groups = [("gemini", tr("Gemini image models (Nano Banana)")), ("imagen", tr("Imagen"))]
        for family, title in groups:
            members = [m for m in models if m.family == family and m.known]
            members += [m for m in models if m.family == family and not m.known]
            if not members:
                continue
            header = QStandardItem(title)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            model.appendRow(header)
            for info in members:
                model.appendRow(self._item(info))
        self.blockSignals(False)
        self.select(keep or DEFAULT_MODEL)

    def _item(self, info: ModelInfo) -> QStandardItem:
        price = info.price_per_image(info.default_size)
        name = info.display_name.split(" (")[0]  # "Nano Banana 2"; the full name is in the tooltip
        label = f"   {name}  ·  " + (f"{money(price)}/image" if price is not None else tr("price unknown"))
        available = info.available_on(self._endpoint)
        if not available:
            label += "  ·  " + (tr("retired here") if info.google_status == "retired" else tr("not served here"))
        item = QStandardItem(label)
        item.setData(info.id, MODEL_ROLE)
        tip = [info.display_name, f"{info.id} · {info.protocol}"]
        if info.retirement_note():
            tip.append(info.retirement_note())
        item.setToolTip("\n".join(tip))
        if not available:
            item.setForeground(self.palette().placeholderText())
        return item

    def select(self, model_id: str) -> None:
        model: QStandardItemModel = self.model()
        for row in range(model.rowCount()):
            if model.item(row).data(MODEL_ROLE) == model_id:
                self.setCurrentIndex(row)
                self._changed()
                return
        for row in range(model.rowCount()):
            if model.item(row).data(MODEL_ROLE):
                self.setCurrentIndex(row)
                self._changed()
                return

    def current_id(self) -> str | None:
        return self.currentData(MODEL_ROLE)

    def current(self) -> ModelInfo | None:
        return self._models.get(self.current_id() or "")

    def _changed(self, *_):
        info = self.current()
        if info is not None:
            self.modelChanged.emit(info)


class ReferenceStrip(QWidget):
    """Reference images as removable thumbnails, with an Add button."""

    changed = Signal()
    addRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.references: list[ReferenceImage] = []
        self.list = QListWidget(self)
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(56, 56))
        self.list.setFixedHeight(80)
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setAccessibleName(tr("Reference images"))
        self.list.setToolTip(
            tr("Reference images: drop files here or paste an image. Select and press Delete to remove.")
        )
        self.list.setAcceptDrops(False)
        self.add_button = QPushButton(tr("Add…"), self)
        self.add_button.setToolTip(tr("Add reference images (PNG, JPEG, WebP, HEIC)"))
        self.add_button.clicked.connect(self.addRequested)
        self.remove_button = QPushButton(tr("Remove"), self)
        self.remove_button.setToolTip(tr("Remove the selected reference images"))
        self.remove_button.clicked.connect(self.remove_selected)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        buttons = QWidget(self)
        from PySide6.QtWidgets import QVBoxLayout

        column = QVBoxLayout(buttons)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.add_button)
        column.addWidget(self.remove_button)
        column.addStretch()
        layout.addWidget(buttons)
        from PySide6.QtGui import QShortcut

        # Only while the strip has focus: a window-wide Delete here made the gallery's Delete ambiguous (neither fired).
        remove = QShortcut(QKeySequence.StandardKey.Delete, self.list, activated=self.remove_selected)
        remove.setContext(Qt.ShortcutContext.WidgetShortcut)

    def add(self, reference: ReferenceImage, preview: QImage | None) -> None:
        self.references.append(reference)
        item = QListWidgetItem(self.list)
        if preview is not None and not preview.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(preview)))
        from pathlib import Path

        item.setToolTip(f"{Path(reference.path).name} · {len(reference.data) / 2**20:.1f} MB")
        self.changed.emit()

    def remove_selected(self) -> None:
        rows = sorted((self.list.row(i) for i in self.list.selectedItems()), reverse=True)
        for row in rows:
            self.list.takeItem(row)
            del self.references[row]
        if rows:
            self.changed.emit()

    def clear(self) -> None:
        self.list.clear()
        self.references.clear()
        self.changed.emit()


def labelled(text: str, widget: QWidget, parent=None) -> QWidget:
    row = QWidget(parent)
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(text, row)
    label.setBuddy(widget)
    label.setMinimumWidth(88)
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return row
