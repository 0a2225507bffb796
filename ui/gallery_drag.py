"""The gallery's model with drags: a drag of selected tiles carries their sha256s (ui.boards.IMAGE_SHA_MIME), so they
can be dropped on a board. Kept apart from ui/gallery.py, which is at its size limit."""

from __future__ import annotations

from services.library import GalleryRow
from ui.boards import IMAGE_SHA_MIME, image_mime
from ui.gallery import GalleryModel


class DraggableGalleryModel(GalleryModel):
    """Its rows are draggable by the C++ model's own flags (enabled, selectable, draggable; asked per painted tile,
    so not answered in Python); the view accepts no drops and edits nothing."""

    def mimeTypes(self):  # noqa: N802 - Qt's name
        return [IMAGE_SHA_MIME]

    def mimeData(self, indexes):  # noqa: N802 - Qt's name
        rows = sorted({i.row() for i in indexes if i.isValid() and i.row() < len(self.rows)})
        shas = [self.rows[r][GalleryRow.SHA256] for r in rows]
        return image_mime([s for s in dict.fromkeys(shas) if s])
