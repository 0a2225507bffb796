"""The window's import in a child process (services/library/import_process.py): the same report and batches as an
import in a thread, Cancel reaching the child, and a child that cannot open the library saying why."""

import threading

import pytest

from services.errors import LibraryError
from services.library import HistoryQuery
from services.library.import_process import import_in_process
from tests import foreign_files as ff
from tests.test_import import tool_folder


@pytest.mark.slow
def test_a_child_process_imports_what_a_thread_would(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    progress, batches = [], []
    report = import_in_process(
        library.root, [folder], progress=lambda d, t: progress.append((d, t)), on_batch=batches.append, batch_size=4
    )
    assert report["added"] == 6 and [f["path"] for f in report["failed"]] == [str(folder / "broken.png")]
    assert [len(b) for b in batches] == [4, 2] and progress[-1] == (7, 7)
    assert library.history(HistoryQuery(search="castle"))[0].source == "a1111"  # the parent's library sees it
    assert [f.path for f in library.folders.all()] == [str(folder)]


@pytest.mark.slow
def test_cancel_reaches_the_child(library, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(200):
        (folder / f"{i:03d}.png").write_bytes(ff.a1111_png(prompt=f"lantern {i}"))
    cancel = threading.Event()
    report = import_in_process(library.root, [folder], cancel=cancel, on_batch=lambda _ids: cancel.set(), batch_size=20)
    assert report["cancelled"] and 20 <= report["added"] < 200
    assert library.count_images() == report["added"]


@pytest.mark.slow
def test_a_child_that_cannot_open_the_library_says_why(tmp_path):
    not_a_folder = tmp_path / "library"
    not_a_folder.write_text("a file where the library should be")
    with pytest.raises(LibraryError) as raised:
        import_in_process(not_a_folder, [tmp_path])
    assert str(raised.value) == f"Cannot create the library folder {not_a_folder}: Not a directory."
