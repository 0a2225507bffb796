"""The import's bulk write: prompts put into the full-text index per batch (the FTS trigger off for the batch),
read-ahead in a helper thread, and what a cancel or a failure leaves behind."""

import json
import threading

import pytest

from services.errors import LibraryError
from services.import_reading import read_rows
from services.library import HistoryQuery, import_rows
from services.types import GenerationRequest
from tests import foreign_files as ff
from tests.test_cli import atelier

TRIGGER_SQL = "SELECT sql FROM sqlite_master WHERE type='trigger' AND name='generations_ai'"


def a1111_folder(folder, count, word="lantern"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:03d}.png").write_bytes(ff.a1111_png(prompt=f"a {word} number{i} by the sea"))
    return folder


def fts_consistent(library) -> bool:
    conn = library._conn()
    conn.execute("INSERT INTO generations_fts(generations_fts, rank) VALUES ('integrity-check', 1)")  # raises if not
    fts_rows = conn.execute("SELECT COUNT(*) FROM generations_fts").fetchone()[0]
    return fts_rows == conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]


def test_a_bulk_batch_is_searchable_and_the_trigger_is_back(library, tmp_path):
    trigger = library._conn().execute(TRIGGER_SQL).fetchone()[0]
    folder = a1111_folder(tmp_path / "sd", 60)
    report = library.import_paths([folder], batch_size=25)  # 25 + 25 (bulk) + 10 (row by row)
    assert report["added"] == 60 and not report["failed"]
    assert len(library.history(HistoryQuery(search="lantern"), limit=None)) == 60
    assert [e.prompt for e in library.history(HistoryQuery(search="number37"))] == ["a lantern number37 by the sea"]
    assert library._conn().execute(TRIGGER_SQL).fetchone()[0] == trigger  # the schema's own trigger, word for word
    assert fts_consistent(library)
    gid = library.begin(
        GenerationRequest("a kettle whistling", "gemini-2.5-flash-image"), endpoint="demo", protocol="generateContent"
    )
    assert [e.generation_id for e in library.history(HistoryQuery(search="kettle"))] == [gid]  # the trigger works


def test_the_cli_finds_a_bulk_imported_prompt(tmp_path):
    folder = a1111_folder(tmp_path / "sd", 30, word="zeppelin")
    lib = str(tmp_path / "lib")
    code, out, err = atelier("import", str(folder), "--library", lib, "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 30 and "_unread" not in json.loads(out)
    code, out, _ = atelier("history", "--search", "zeppelin number7", "--library", lib, "--json")
    [entry] = json.loads(out)
    assert (entry["status"], entry["source"], entry["prompt"]) == ("imported", "a1111", "a zeppelin number7 by the sea")


def test_a_cancelled_bulk_import_leaves_a_consistent_index(library, tmp_path):
    folder = a1111_folder(tmp_path / "sd", 100)
    cancel, landed = threading.Event(), []

    def on_batch(ids):
        landed.append(len(ids))
        cancel.set()  # after the first batch: what was read ahead is dropped, not half written

    report = library.import_paths([folder], cancel=cancel, on_batch=on_batch, batch_size=30)
    assert report["cancelled"] and landed == [30] and "_unread" not in report
    assert library.count_images() == 30 and fts_consistent(library)
    assert library.rescan_folders()["added"] == 70 and library.count_images() == 100
    assert fts_consistent(library) and len(library.history(HistoryQuery(search="lantern"), limit=None)) == 100


def test_a_failing_bulk_write_rolls_back_with_the_trigger(library, tmp_path):
    trigger = library._conn().execute(TRIGGER_SQL).fetchone()[0]
    folder = a1111_folder(tmp_path / "sd", 40)
    rows, failed = read_rows([(p, str(p), None, None) for p in sorted(folder.iterdir())])
    generation, image = rows[-1]
    rows[-1] = generation, (*image[:2], None, *image[3:])  # no width: the images insert fails after the drop
    assert not failed and len(rows) == 40
    with pytest.raises(LibraryError, match="NOT NULL"), library.index.transaction() as conn:
        import_rows.index_new(conn, rows)
    assert library._conn().execute(TRIGGER_SQL).fetchone()[0] == trigger
    assert library.count_images() == 0 and fts_consistent(library)


def test_progress_is_called_a_few_times_not_per_file(library, tmp_path):
    folder = a1111_folder(tmp_path / "sd", 120)
    calls = []
    library.import_paths([folder], progress=lambda done, total: calls.append((done, total)), batch_size=50)
    assert calls[0] == (0, 120) and calls[-1] == (120, 120)
    assert len(calls) < 120 // 2  # throttled by time (10 a second at most), not one per file


def test_outside_a_transaction_the_batch_goes_through_the_trigger(library, tmp_path):
    folder = a1111_folder(tmp_path / "sd", 25)
    rows, _ = read_rows([(p, str(p), None, None) for p in sorted(folder.iterdir())])
    conn = library._conn()
    assert not conn.in_transaction
    ids = import_rows.index_new(conn, rows)  # autocommit: dropping the trigger would be seen on its own
    assert len(ids) == 25 and conn.execute(TRIGGER_SQL).fetchone() is not None
    assert fts_consistent(library) and len(library.history(HistoryQuery(search="lantern"), limit=None)) == 25


def test_a_big_import_s_page_cache_and_checkpoints_are_put_back(library, tmp_path, monkeypatch):
    from services.library import import_readers

    def pragmas():
        conn = library._conn()
        return conn.execute("PRAGMA cache_size").fetchone()[0], conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    seen = []
    monkeypatch.setattr(import_readers, "READERS_FROM", 20)  # a "big" import here: reader processes and bulk writes
    report = library.import_paths(
        [a1111_folder(tmp_path / "sd", 25)], batch_size=10, on_batch=lambda _: seen.append(pragmas())
    )
    assert report["added"] == 25 and seen == [(-65536, 20000)] * 3
    assert pragmas() == (-2000, 1000) and fts_consistent(library)


def test_the_wal_a_big_import_grew_is_cut_back_once_checkpointed(tmp_path, monkeypatch):
    from services.library import Library, import_readers, index

    monkeypatch.setattr(import_readers, "READERS_FROM", 20)
    monkeypatch.setattr(index, "WAL_KEPT_BYTES", 32 * 1024)  # a big import's WAL, at the scale of this test
    library = Library(tmp_path / "library", prepare_qt=False).open()
    try:
        wal = library.index.db_path.with_name(library.index.db_path.name + "-wal")
        library.import_paths([a1111_folder(tmp_path / "sd", 400)])
        grown = wal.stat().st_size
        library.index.checkpoint()
        library.index.write("UPDATE images SET favourite=1 WHERE id=1")  # the next write starts the WAL again
        assert grown > 64 * 1024 and wal.stat().st_size <= 32 * 1024
        assert library.count_images() == 400
    finally:
        library.close()


def test_rebuilding_a_big_added_folder_reads_it_like_an_import(library, tmp_path, monkeypatch):
    from services.library import import_readers

    folder = a1111_folder(tmp_path / "sd", 30)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    library.import_paths([folder])
    by_path = {e.images[0].path: e.images[0].image_id for e in library.history(limit=None)}
    library.set_favourite([by_path[str(folder / "003.png")]], True)
    library.trash([by_path[str(folder / "004.png")]])
    monkeypatch.setattr(import_readers, "READERS_FROM", 20)  # reader processes and bulk writes in the rebuild too
    report = library.rebuild()
    assert report["images"] == 30 and [s["path"] for s in report["skipped"]] == [str(folder / "broken.png")]
    entries = library.history(HistoryQuery(search="lantern"), limit=None)
    assert len(entries) == 29 and fts_consistent(library)  # the trashed one stays hidden
    favourites = library.history(HistoryQuery(favourites_only=True), limit=None)
    assert [e.images[0].path for e in favourites] == [str(folder / "003.png")]


def test_a_big_import_reads_in_this_process_when_reader_processes_cannot_start(library, tmp_path, monkeypatch):
    from services.library import import_readers

    def refuse(*_args, **_kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(import_readers, "READERS_FROM", 20)
    monkeypatch.setattr(import_readers, "spawn_readers", refuse)
    report = library.import_paths([a1111_folder(tmp_path / "sd", 25)])
    assert report["added"] == 25 and not report["failed"] and fts_consistent(library)
