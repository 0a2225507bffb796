"""The packaged resources: the catalog, the icons each platform's build takes."""

from pathlib import Path

from PySide6.QtGui import QImageReader

from resources.make_icons import ICNS_TYPES, ICO_SIZES

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def sizes_in(path: Path) -> list[int]:
    reader = QImageReader(str(path))
    found = []
    for i in range(reader.imageCount()):
        reader.jumpToImage(i)
        image = reader.read()
        assert not image.isNull(), f"{path.name} image {i}: {reader.errorString()}"
        found.append(image.width())
    return found


def test_windows_and_macos_icons_hold_every_size(qapp):
    assert sizes_in(RESOURCES / "atelier.ico") == list(ICO_SIZES)
    assert sizes_in(RESOURCES / "atelier.icns") == list(ICNS_TYPES)
