"""Look-alike images: a 64-bit difference hash (dHash) per image, and groups within a Hamming distance.

The hash is made from the image's thumbnail (decoding a 320 px JPEG, not the full image): shrunk to 9 x 8 grey
pixels, each bit says whether a pixel is brighter than its right neighbour. A resize or a re-encode moves a few
bits; a different picture about half of them.

Groups use multi-index hashing: the 64 bits are cut into 4 chunks of 16; two hashes within distance t have a chunk
within distance t // 4 of each other (pigeonhole), so each hash is compared only with those sharing a chunk up to
that many flipped bits, found by sorted search (numpy), instead of with all others.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HASH_SIDE = 8
DEFAULT_THRESHOLD = 6
MAX_THRESHOLD = 16
CHUNKS = 4
CHUNK_BITS = 64 // CHUNKS


def dhash_file(path: str | os.PathLike) -> int | None:
    """The image's 64-bit dHash (unsigned), or None when it cannot be decoded. Blocking: call from a worker."""
    from PySide6.QtCore import QSize, Qt
    from PySide6.QtGui import QImage, QImageReader

    from services import imaging

    imaging.prepare_qt()
    reader = QImageReader(os.fspath(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() * size.height() > imaging.MAX_IMAGE_PIXELS:
        return None
    if size.isValid() and max(size.width(), size.height()) > 4 * imaging.THUMBNAIL_EDGE:
        scale = imaging.THUMBNAIL_EDGE / max(size.width(), size.height())
        reader.setScaledSize(QSize(max(9, round(size.width() * scale)), max(8, round(size.height() * scale))))
    image = reader.read()
    if image.isNull():
        return None
    return dhash_image(image, QImage, Qt)


def dhash_image(image, QImage=None, Qt=None) -> int:  # noqa: N803 - the Qt classes, passed to import once
    if QImage is None:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QImage
    small = image.convertToFormat(QImage.Format.Format_Grayscale8).scaled(
        HASH_SIDE + 1, HASH_SIDE, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    stride = small.bytesPerLine()
    pixels = bytes(small.constBits())[: stride * HASH_SIDE]
    value = 0
    for y in range(HASH_SIDE):
        row = pixels[y * stride : y * stride + HASH_SIDE + 1]
        for x in range(HASH_SIDE):
            value = (value << 1) | (row[x] > row[x + 1])
    return value


def to_signed(value: int) -> int:
    """SQLite's INTEGER is signed 64-bit."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def distance(a: int, b: int) -> int:
    return (to_unsigned(a) ^ to_unsigned(b)).bit_count()


def _flip_masks(radius: int) -> list[int]:
    masks = [0]
    for r in range(1, radius + 1):
        for bits in combinations(range(CHUNK_BITS), r):
            masks.append(sum(1 << b for b in bits))
    return masks


def close_pairs(hashes: Sequence[int], threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of positions whose hashes differ in at most `threshold` bits."""
    import numpy as np  # imported when looking for duplicates, not at start-up

    if not 0 <= threshold <= MAX_THRESHOLD:
        raise ValueError(f"threshold must be 0 to {MAX_THRESHOLD}")
    values = np.fromiter((to_unsigned(h) for h in hashes), dtype=np.uint64, count=len(hashes))
    n = len(values)
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    found_i, found_j = [], []
    masks = _flip_masks(threshold // CHUNKS)
    positions = np.arange(n, dtype=np.int64)
    for chunk in range(CHUNKS):
        keys = (values >> np.uint64(chunk * CHUNK_BITS)) & np.uint64(0xFFFF)
        order = np.argsort(keys, kind="stable")
        bucket_start = np.searchsorted(keys[order], np.arange(65537, dtype=np.uint64), "left")
        keys = keys.astype(np.int64)
        for mask in masks:
            wanted = keys ^ int(mask)
            lo = bucket_start[wanted]
            counts = bucket_start[wanted + 1] - lo
            total = int(counts.sum())
            if not total:
                continue
            left = np.repeat(positions, counts)
            starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
            right = order[starts + np.arange(total, dtype=np.int64)]
            keep = left < right
            left, right = left[keep], right[keep]
            near = np.bitwise_count(values[left] ^ values[right]) <= threshold
            found_i.append(left[near])
            found_j.append(right[near])
    if not found_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.concatenate(found_i) * n + np.concatenate(found_j))
    return pairs // n, pairs % n


def groups(hashes: Sequence[int], threshold: int = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Positions of look-alikes, linked through pairs within `threshold` (union-find); groups of 2 or more, each
    sorted, largest group first."""
    left, right = close_pairs(hashes, threshold)
    parent = list(range(len(hashes)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for a in {x for pair in zip(left.tolist(), right.tolist(), strict=True) for x in pair}:
        members.setdefault(root(a), []).append(a)
    result = [sorted(m) for m in members.values() if len(m) > 1]
    result.sort(key=lambda m: (-len(m), m[0]))
    return result


def compute_hashes(library, limit: int | None = None) -> int:
    """Hashes the images that have none yet (from their thumbnails, made if missing), once; how many were hashed.
    Blocking: call from a worker."""
    sql = (
        "SELECT sha256, MIN(path) FROM images i WHERE NOT trashed AND NOT EXISTS"
        " (SELECT 1 FROM image_hashes h WHERE h.sha256 = i.sha256) GROUP BY sha256"
    )
    todo = library.index.rows(sql + (f" LIMIT {int(limit)}" if limit else ""))
    done: list[tuple[str, int]] = []
    for sha, rel in todo:
        thumb = library.thumbnail_path(sha)
        if not thumb.exists():
            thumb = library.ensure_thumbnail(str(library.root / rel), sha) or library.root / rel
        value = dhash_file(thumb)
        if value is not None:
            done.append((sha, to_signed(value)))
        if len(done) >= 500:
            _store(library, done)
    _store(library, done)
    return len(todo)


def _store(library, done: list[tuple[str, int]]) -> None:
    if done:
        with library.index.session() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR REPLACE INTO image_hashes(sha256, dhash) VALUES (?, ?)", done)
            conn.execute("COMMIT")
        done.clear()


def duplicates(library, threshold: int = DEFAULT_THRESHOLD) -> list[list[dict]]:
    """Groups of look-alike images in the library (hashing those not hashed yet first): each a list of
    {image_id, path, sha256, distance}, distance from the group's first image (the oldest)."""
    compute_hashes(library)
    rows = library.index.rows(
        "SELECT i.id, i.path, i.sha256, h.dhash FROM images i JOIN image_hashes h ON h.sha256 = i.sha256"
        " WHERE NOT i.trashed ORDER BY i.created_at, i.id"
    )
    hashes = [r[3] for r in rows]
    result = []
    for members in groups(hashes, threshold):
        first = hashes[members[0]]
        result.append(
            [
                {
                    "image_id": rows[m][0],
                    "path": str(library.root / rows[m][1]),
                    "sha256": rows[m][2],
                    "distance": distance(first, hashes[m]),
                }
                for m in members
            ]
        )
    return result
