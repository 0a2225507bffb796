"""Renders atelier.svg into the icons the Windows and macOS builds take: python resources/make_icons.py

Writes atelier.ico and atelier.icns beside this file. Both containers hold PNG images (Windows Vista and later,
macOS 10.7 and later read them); Qt renders the PNGs, the containers are a few struct fields.
"""

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize  # noqa: E402
from PySide6.QtGui import QGuiApplication, QIcon  # noqa: E402

HERE = Path(__file__).resolve().parent
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}


def png(icon: QIcon, edge: int) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    icon.pixmap(QSize(edge, edge)).toImage().save(buffer, "PNG")
    return bytes(data)


def ico(images: dict[int, bytes]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for edge, data in images.items():
        side = edge if edge < 256 else 0  # 0 means 256
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    return header + entries + blobs


def icns(images: dict[int, bytes]) -> bytes:
    body = b"".join(ICNS_TYPES[edge] + struct.pack(">I", 8 + len(data)) + data for edge, data in images.items())
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    icon = QIcon(str(HERE / "atelier.svg"))
    (HERE / "atelier.ico").write_bytes(ico({edge: png(icon, edge) for edge in ICO_SIZES}))
    (HERE / "atelier.icns").write_bytes(icns({edge: png(icon, edge) for edge in ICNS_TYPES}))
    print("wrote atelier.ico and atelier.icns in", HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
