"""Opens one organizing part on a real library made through the Library API, for a screenshot.

../shared/tools/screenshot out.png 8 python3 tests/screens/organize_parts.py boards|compare|duplicates
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication

from services.emulator import Painter
from services.imaging import check_image, encode
from services.library import HistoryQuery, Library
from services.types import GenerationRequest, ReceivedImage


def add(library: Library, prompt: str, data: bytes, seed: int | None = None, ratio: str = "4:3"):
    request = GenerationRequest(prompt, "gemini-3.1-flash-image", aspect_ratio=ratio, seed=seed)
    gid = library.begin(request, endpoint="demo", protocol="generateContent")
    mime, width, height = check_image(data)
    saved = library.save_image(gid, 0, ReceivedImage(data, mime, width, height), request=request, endpoint="demo")
    library.finish(gid, status="ok")
    return saved


def build(root: Path) -> Library:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    painter = Painter()
    library = Library(root).open()
    fox = painter.png("a red fox in the snow", 768, 576)
    first = add(library, "a red fox in the snow, at dawn, soft light", fox, seed=11)
    small = QImage.fromData(fox).scaled(384, 288, Qt.AspectRatioMode.IgnoreAspectRatio)
    add(library, "a red fox in the snow, smaller copy", encode(small, "PNG"), seed=11)
    add(library, "a red fox in the snow, re-saved as JPEG", encode(QImage.fromData(fox), "JPEG", 70), seed=11)
    grey = add(library, "a grey fox in deep snow, at dawn, hard light", painter.png("a grey fox", 768, 576), seed=12)
    owl = add(library, "an owl at night", painter.png("an owl at night", 768, 576))
    sea = add(library, "a calm sea", painter.png("a calm sea", 768, 576))
    library.board_add("Forest animals", [first.sha256, grey.sha256, owl.sha256])
    library.board_add("Blue hour", [sea.sha256, owl.sha256])
    library.board_add("Portfolio", [first.sha256])
    library.tag([first.sha256, grey.sha256], ["fox", "winter"])
    library.rate([first.sha256], 5)
    return library


def main() -> int:
    import qasync

    which = sys.argv[1] if len(sys.argv) > 1 else "boards"
    app = QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    folder = tempfile.mkdtemp(prefix="atelier-screens-")
    library = build(Path(folder) / "library")
    if which == "boards":
        from ui.boards import BoardsSidebar

        widget = BoardsSidebar(library)
        widget.resize(320, 420)
        widget.refresh()
    elif which == "compare":
        from ui.compare import CompareView

        rows = [r for r in library.gallery(HistoryQuery()) if "fox" in r.path and ("dawn" in r.path)]
        widget = CompareView(library)
        widget.resize(1300, 600)
        widget.compare(rows[:2])
    else:
        from ui.duplicates import DuplicatesView

        widget = DuplicatesView(library)
        widget.resize(900, 600)
        widget.refresh()
    widget.setWindowTitle(f"Atelier: {which}")
    widget.show()
    with loop:
        loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
