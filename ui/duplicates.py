"""Groups of look-alike images with a threshold slider; "Keep this one" sends the rest of its group to the library's
trash (the same trash as Delete, so the window's Undo brings them back: `trashed` carries restore()'s keys)."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.library import similar
from ui.common import TaskSlots, tr
from ui.drafts import preview_file

MEMBER_ROLE = Qt.ItemDataRole.UserRole + 1
ICON_EDGE = 96


def _thumbnail(path: str) -> QImage:
    return preview_file(path, ICON_EDGE) or QImage()


class DuplicatesView(QWidget):
    trashed = Signal(list)  # restore() keys of the images sent to the trash
    failed = Signal(str)
    loaded = Signal()

    def __init__(self, library, tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.groups: list[list[dict]] = []
        self.threshold = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold.setRange(0, similar.MAX_THRESHOLD)
        self.threshold.setValue(similar.DEFAULT_THRESHOLD)
        self.threshold_label = QLabel(self)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels([tr("Image"), tr("Bits apart"), tr("Path")])
        self.tree.setIconSize(QSize(ICON_EDGE, ICON_EDGE))
        self.tree.setColumnWidth(0, ICON_EDGE + 48)
        self.keep = QPushButton(tr("Keep this one, move the others to the trash"), self)
        self.keep.clicked.connect(self.keep_selected)
        self.summary = QLabel(self)
        top = QHBoxLayout()
        top.addWidget(QLabel(tr("Look-alike within"), self))
        top.addWidget(self.threshold, 1)
        top.addWidget(self.threshold_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.keep)
        self._threshold_changed(self.threshold.value(), load=False)

    def _threshold_changed(self, value: int, load: bool = True) -> None:
        self.threshold_label.setText(tr("{n} bits").format(n=value))
        if load:
            self.refresh()

    def refresh(self) -> asyncio.Task:
        threshold = self.threshold.value()

        async def load():
            def find():
                groups = self.library.duplicates(threshold)
                return groups, {m["path"]: _thumbnail(m["path"]) for g in groups for m in g}

            groups, thumbs = await asyncio.to_thread(find)
            self.show_groups(groups, thumbs)
            self.loaded.emit()

        return self.tasks.run("duplicates", load())

    def show_groups(self, groups: list[list[dict]], thumbs: dict) -> None:
        self.groups = groups
        self.tree.clear()
        for number, group in enumerate(groups, 1):
            head = QTreeWidgetItem([tr("Group {n}: {count} images").format(n=number, count=len(group))])
            self.tree.addTopLevelItem(head)
            head.setFirstColumnSpanned(True)
            for member in group:
                item = QTreeWidgetItem(["", str(member["distance"]), _shown_path(self.library.root, member["path"])])
                item.setToolTip(2, member["path"])
                image = thumbs.get(member["path"])
                if image is not None and not image.isNull():
                    item.setIcon(0, QIcon(QPixmap.fromImage(image)))
                item.setData(0, MEMBER_ROLE, member)
                head.addChild(item)
            head.setExpanded(True)
        images = sum(len(g) for g in groups)
        self.summary.setText(
            tr("{groups} groups, {images} images").format(groups=len(groups), images=images)
            if groups
            else tr("No look-alikes at this threshold.")
        )

    def keep_selected(self) -> asyncio.Task | None:
        item = self.tree.currentItem()
        member = item.data(0, MEMBER_ROLE) if item is not None else None
        if member is None:
            return None
        others = [c.data(0, MEMBER_ROLE)["image_id"] for c in _children(item.parent()) if c is not item]
        return self.keep_one(member["image_id"], others)

    def keep_one(self, keep_id: int, others: list[int]) -> asyncio.Task:
        others = [i for i in others if i != keep_id]

        async def send():
            keys = await asyncio.to_thread(self.library.trash, others)
            self.trashed.emit(keys)
            await self.refresh()

        return self.tasks.run("keep", send())


def _shown_path(root, path: str) -> str:
    prefix = str(root) + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [item.child(n) for n in range(item.childCount())]
