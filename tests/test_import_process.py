"""The window's import in a child process (services/library/import_process.py): the same report and batches as an
import in a thread, Cancel reaching the child, and a child that cannot open the library saying why; and the reader
processes both imports use for big folders (services/library/import_readers.py): rows in the items' order whichever
reader read them, a dead reader said in a sentence, readers ending with the process that uses them."""

import os
import threading

import pytest

from services.errors import LibraryError
from services.library import HistoryQuery, import_readers
from services.library.import_process import import_in_process
from services.library.import_readers import Readers, spawn_readers
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


@pytest.mark.slow
def test_rows_come_back_in_the_items_order_from_several_readers(tmp_path, monkeypatch):
    from services.library import import_readers

    monkeypatch.setattr(import_readers, "CHUNK", 3)  # 30 files: ten chunks over two readers
    files = []
    for i in range(30):
        files.append(tmp_path / f"{i:02d}.png")
        files[-1].write_bytes(b"not an image" if i == 7 else ff.a1111_png(prompt=f"lantern {i}"))
    readers = Readers.spawn(2)
    try:
        chunks = list(readers.read([(str(f), str(f), None, None) for f in files]))
        again = list(readers.read([(str(files[0]), "again", None, None)]))  # the readers serve a second call
    finally:
        readers.close()
    keys = [image[1] for rows, _, _ in chunks for _, image in rows]
    assert keys == [str(f) for i, f in enumerate(files) if i != 7]
    failed = [failed for _, failed, _ in chunks if failed]
    assert len(failed) == 1 and failed[0][0][0] == str(files[7]) and failed[0][0][1].startswith("It is not a whole")
    assert [count for _, _, count in chunks] == [3] * 10 and again[0][0][0][1][1] == "again"


@pytest.mark.slow
def test_a_dead_reader_is_a_sentence_not_a_hang(tmp_path):
    (tmp_path / "a.png").write_bytes(ff.a1111_png(prompt="lantern"))
    processes, ends = spawn_readers(1)
    processes[0].kill()
    processes[0].join(10)
    readers = Readers(ends)
    with pytest.raises(LibraryError, match="A reader of the import stopped unexpectedly"):
        list(readers.read([(str(tmp_path / "a.png"), "a", None, None)] * 5))
    readers.close()


@pytest.mark.slow
def test_readers_end_when_their_importer_closes_the_pipe():
    processes, ends = spawn_readers(2)
    for end in ends:  # what the importing process's exit does to them, however it exits
        end.close()
    for process in processes:
        process.join(10)
    assert [p.exitcode for p in processes] == [0, 0]


@pytest.mark.skipif(not hasattr(os, "nice"), reason="process priorities are POSIX's os.nice")
def test_readers_run_below_the_process_that_started_them(tmp_path):
    import psutil

    from services.import_reading import READER_NICENESS

    readers = Readers.spawn(1)
    try:
        rows, failed, _ = next(readers.read([(str(tmp_path / "none.png"), "none.png", None, None)]))  # it serves
        assert rows == [] and len(failed) == 1
        assert psutil.Process(readers._processes[0].pid).nice() == min(19, os.nice(0) + READER_NICENESS)
    finally:
        readers.close()


@pytest.mark.slow
def test_a_big_folder_in_a_thread_is_read_by_reader_processes(library, tmp_path, monkeypatch):
    folder = tool_folder(tmp_path / "sd")
    for i in range(12):
        (folder / f"extra{i:02d}.png").write_bytes(ff.a1111_png(prompt=f"lantern {i}"))
    spawned = []
    real_spawn = Readers.spawn.__func__
    monkeypatch.setattr(import_readers, "READERS_FROM", 10)
    monkeypatch.setattr(Readers, "spawn", classmethod(lambda cls, count=None: spawned.append(1) or real_spawn(cls, 2)))
    report = library.import_paths([folder], batch_size=5)
    assert spawned == [1] and report["added"] == 18
    assert [f["path"] for f in report["failed"]] == [str(folder / "broken.png")]
    assert len(library.history(HistoryQuery(search="lantern"), limit=None)) == 12
    assert library.history(HistoryQuery(search="castle"))[0].source == "a1111"


@pytest.mark.slow
def test_the_import_processes_log_to_the_app_s_log_file_not_a_console(library, tmp_path):
    import logging

    folder = tmp_path / "sd"
    folder.mkdir()
    bad_crc = ff.chunk(b"tEXt", b"parameters\0a castle", crc=1)
    (folder / "bad-crc.png").write_bytes(ff.png_with([bad_crc]))
    log_file = tmp_path / "atelier.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")  # what setup_logging gives the window
    logging.getLogger().addHandler(handler)
    try:
        report = import_in_process(library.root, [folder])
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert report["added"] == 1  # a whole image whose text is damaged is still an image
    lines = [line for line in log_file.read_text(encoding="utf-8").splitlines() if "bad-crc.png" in line]
    assert len(lines) == 1 and "wrong CRC" in lines[0] and "[atelier-import-reader]" in lines[0]


@pytest.mark.slow
def test_the_window_s_import_goes_on_when_its_readers_cannot_start(library, tmp_path, monkeypatch):
    from services.library import import_process

    def refuse(*_args, **_kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(import_process, "spawn_readers", refuse)
    report = import_in_process(library.root, [tool_folder(tmp_path / "sd")])
    assert report["added"] == 6 and [f["path"] for f in report["failed"]] == [str(tmp_path / "sd" / "broken.png")]


@pytest.mark.slow
def test_after_its_report_the_child_copies_the_wal_into_the_index_file(library, tmp_path):
    import sqlite3
    import time

    report = import_in_process(library.root, [tool_folder(tmp_path / "sd")])
    # immutable=1 reads the index file alone, never the WAL: the rows are there once the child has checkpointed
    uri = library.index.db_path.resolve().as_uri() + "?mode=ro&immutable=1"
    deadline, in_file = time.monotonic() + 20, 0
    while in_file != report["added"] and time.monotonic() < deadline:
        time.sleep(0.05)
        conn = sqlite3.connect(uri, uri=True)
        try:
            in_file = conn.execute("SELECT count(*) FROM images").fetchone()[0]
        except sqlite3.OperationalError:  # no such table yet: even the schema is still in the WAL
            in_file = 0
        finally:
            conn.close()
    assert report["added"] == 6 and in_file == 6
