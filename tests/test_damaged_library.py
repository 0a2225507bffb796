"""A library folder holding damaged and foreign images still opens, rebuilds and searches; every reader logs each
damaged file once and goes on."""

import logging
from pathlib import Path

import pytest

from services import imaging, metadata
from services.library import HistoryQuery, Library
from services.types import GenerationRequest, ReceivedImage
from tests.damaged_files import damaged_files, write_damaged_files
from tests.helpers import png


@pytest.mark.parametrize("name", sorted(damaged_files()))
def test_each_damaged_file_reads_as_no_metadata_with_one_log_line(name, caplog):
    data = damaged_files()[name]
    with caplog.at_level(logging.WARNING, logger="services.metadata"):
        info = metadata.read_info(data, name)
        record = metadata.read_embedded(data)
    assert record is None or isinstance(record["generation_id"], str)
    about_this_file = [r for r in caplog.records if name in r.getMessage()]
    assert len(about_this_file) <= 1
    assert all(r.levelno == logging.WARNING for r in caplog.records)  # never the guard's "reader failed" error
    if info.source == "unknown":
        assert (info.prompt, info.seed, info.model) == ("", None, None)


def test_sidecars_that_are_not_atelier_records_read_as_none(tmp_path):
    paths = write_damaged_files(tmp_path / "files")
    for name in ("webp-sidecar-bad-json.webp", "webp-sidecar-not-utf8.webp"):
        assert metadata.read_sidecar(paths[name]) is None
    checked = metadata.read_sidecar(paths["webp-sidecar-wrong-types.webp"])
    assert checked["generation_id"] == "damaged-0002" and checked["index"] == 0 and "created_ts" not in checked
    assert checked["request"] == {"prompt": ""} and "text" not in checked
    assert metadata.read_sidecar(tmp_path / "no-such-image.webp") is None


def save_one(library: Library, prompt: str) -> str:
    data = png(prompt)
    mime, width, height = imaging.check_image(data)
    request = GenerationRequest(prompt, "gemini-3.1-flash-image")
    gid = library.begin(request, endpoint="test", protocol="generateContent")
    library.save_image(gid, 0, ReceivedImage(data, mime, width, height), request=request, endpoint="test")
    library.finish(gid, status="ok")
    return gid


@pytest.mark.slow
def test_a_library_with_damaged_and_foreign_files_opens_rebuilds_and_searches(tmp_path):
    root = tmp_path / "library"
    library = Library(root).open()
    healthy = save_one(library, "a healthy lighthouse")
    paths = write_damaged_files(library.images_dir / "2025" / "01" / "02")
    library.close()

    library = Library(root).open()
    report = library.rebuild()
    readable = [p for p in paths.values() if imaging.image_header(Path(p).read_bytes())]
    assert report["images"] == len(readable) + 1
    assert report["unreadable"] == len(paths) - len(readable)
    assert [e.generation_id for e in library.history(HistoryQuery(search="lighthouse"))] == [healthy]
    assert len(library.history(limit=None)) >= len(readable) + 1
    library.close()
    reopened = Library(root).open()
    try:
        assert reopened.history(HistoryQuery(search="healthy"))[0].generation_id == healthy
    finally:
        reopened.close()
