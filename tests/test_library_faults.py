"""Faults the library meets in real use: a reused pid, a damaged file in the folder, a delete followed by a rebuild,
a trash that refuses a file, a close while other threads work, and a retry of a request with references."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.errors import LibraryError
from services.imaging import check_image
from services.library import HistoryQuery, Library
from services.types import GenerationRequest, ReceivedImage, ReferenceImage
from tests.conftest import run
from tests.helpers import b64, demo_endpoint, jpeg, png, png_with_chunk, service_for


def received(data: bytes) -> ReceivedImage:
    mime, w, h = check_image(data)
    return ReceivedImage(data, mime, w, h)


def save(library, prompt="a red fox", request=None):
    request = request or GenerationRequest(prompt, "gemini-3.1-flash-image")
    gid = library.begin(request, endpoint="test", protocol="generateContent")
    saved = library.save_image(gid, 0, received(png(prompt)), request=request, endpoint="test")
    library.finish(gid, status="ok")
    return gid, saved


def damaged_png() -> bytes:
    """A PNG whose header is fine but whose `atelier` iTXt chunk claims zlib data that is garbage."""
    body = b"atelier\x00" + b"\x01\x00" + b"\x00" + b"\x00" + b"not zlib at all"
    return png_with_chunk(png("damaged"), b"iTXt", body)


# --- a. the writer of a running job is a process, not just a pid ---------------------------------------------------


def test_a_reused_pid_is_not_taken_for_the_live_writer(tmp_path):
    """A job's writer died and its pid now belongs to another live process: the job is interrupted, not running."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lib = Library(tmp_path / "lib").open()
        gid = lib.begin(GenerationRequest("x", "m"), endpoint="t", protocol="generateContent")
        lib._conn().execute("UPDATE generations SET pid=? WHERE id=?", (stranger.pid, gid))
        # a job recorded before schema 3 (no start time) and begun before that process started
        older = lib.begin(GenerationRequest("y", "m"), endpoint="t", protocol="generateContent", created_at=1e9)
        lib._conn().execute("UPDATE generations SET pid=?, pid_started=NULL WHERE id=?", (stranger.pid, older))
        lib.close()
        lib = Library(tmp_path / "lib").open()
        assert lib.generation(gid).status == "interrupted"
        assert lib.generation(older).status == "interrupted"
        lib.close()
    finally:
        stranger.kill()
        stranger.wait(timeout=10)


def test_the_live_writer_of_a_running_job_is_recognised(tmp_path):
    """The other side of the probe: a job whose writer (pid and start time) still runs stays running."""
    lib = Library(tmp_path / "lib").open()
    gid = lib.begin(GenerationRequest("x", "m"), endpoint="t", protocol="generateContent")
    lib.close()
    lib = Library(tmp_path / "lib").open()
    assert lib.generation(gid).status == "running"
    lib.close()


# --- b. one bad file does not stop the library ---------------------------------------------------------------------


def test_a_damaged_or_foreign_image_does_not_stop_rebuild_and_is_reported(tmp_path, caplog):
    lib = Library(tmp_path / "lib").open()
    kept = [save(lib, prompt=f"picture {i}")[1] for i in range(2)]
    folder = Path(kept[0].path).parent
    damaged = folder / "damaged.png"
    damaged.write_bytes(damaged_png())
    foreign = folder / "foreign.png"
    foreign.write_bytes(png("foreign"))
    sidecar = {"generation_id": "g-foreign", "created_ts": "yesterday", "request": ["not", "a", "dict"]}
    (folder / "foreign.png.atelier.json").write_text(json.dumps(sidecar))
    lib.close()
    cut = folder / "cut.png"
    cut.write_bytes(b"not an image at all, though its name says PNG")  # nothing to index
    lib.close()
    report = Library(tmp_path / "lib").rebuild()
    # Whole images with damaged metadata are kept, as images without metadata, and listed with what was damaged.
    assert report["images"] == 4 and report["without_metadata"] == 1  # the sidecar keeps its readable fields
    damaged_list = {item["path"]: item["reason"] for item in report["damaged"]}
    assert set(damaged_list) == {str(damaged), str(foreign)}
    assert [item["path"] for item in report["skipped"]] == [str(cut)] and report["unreadable"] == 1
    reasons = list(damaged_list.values()) + [item["reason"] for item in report["skipped"]]
    assert all(reason.endswith(".") and "Traceback" not in reason for reason in reasons)
    logged = [r for r in caplog.records if "damaged.png" in r.getMessage()]
    assert len(logged) == 1
    lib = Library(tmp_path / "lib").open()
    indexed = sorted(r.path for r in lib.gallery())
    expected = [Path(s.path).relative_to(lib.root).as_posix() for s in kept] + [
        p.relative_to(lib.root).as_posix() for p in (damaged, foreign)
    ]
    assert indexed == sorted(expected)
    lib.close()


def test_a_damaged_file_beside_an_interrupted_job_does_not_stop_open(tmp_path):
    lib = Library(tmp_path / "lib").open()
    request = GenerationRequest("half done", "gemini-3.1-flash-image", count=2)
    gid = lib.begin(request, endpoint="test", protocol="generateContent")
    saved = lib.save_image(gid, 0, received(png("one")), request=request, endpoint="test")
    second = Path(saved.path).with_name(Path(saved.path).name.replace("_1.png", "_2.png"))
    second.write_bytes(damaged_png())  # the job's second image, damaged on disk
    lib._conn().execute("UPDATE generations SET pid=999999999 WHERE id=?", (gid,))
    lib.close()
    lib = Library(tmp_path / "lib").open()
    entry = lib.generation(gid)
    assert entry.status == "interrupted" and [i.path for i in entry.images] == [saved.path]
    lib.close()


# --- c. a delete survives a rebuild; purge forgets only what is really gone ------------------------------------------


def test_a_deleted_image_stays_deleted_after_a_rebuild_and_undo_still_restores_it(library):
    _, keep = save(library, prompt="keep me")
    _, gone = save(library, prompt="delete me")
    keys = library.trash([gone.image_id])
    assert [r[0] for r in library.gallery()] == [keep.image_id]
    library.rebuild()
    assert [r[5] for r in library.gallery()] == [Path(keep.path).relative_to(library.root).as_posix()]
    assert library.history(HistoryQuery(search="delete")) == []
    restored = library.restore(keys)
    assert [r.path for r in restored] == [Path(gone.path).relative_to(library.root).as_posix()]
    assert Path(gone.path).read_bytes() and len(library.gallery()) == 2
    assert library.history(HistoryQuery(search="delete"))[0].images[0].path == gone.path


def test_purge_keeps_the_row_of_a_file_it_could_not_remove(library, monkeypatch):
    import send2trash

    _, image = save(library)
    library.trash([image.image_id])

    def refuse(path):
        raise OSError(13, "Permission denied", str(path))

    monkeypatch.setattr(send2trash, "send2trash", refuse)
    real_unlink = os.unlink
    monkeypatch.setattr(os, "unlink", lambda p, *a, **k: refuse(p) if Path(p).suffix == ".png" else real_unlink(p))
    assert library.purge_trashed() == 0
    assert library._conn().execute("SELECT COUNT(*) FROM images WHERE trashed").fetchone()[0] == 1
    monkeypatch.undo()
    assert library.purge_trashed() == 1
    assert library._conn().execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0


def test_purge_sends_the_file_to_the_system_trash(library, monkeypatch):
    import send2trash

    _, image = save(library)
    library.trash([image.image_id])
    sent = []
    real = send2trash.send2trash
    monkeypatch.setattr(send2trash, "send2trash", lambda path: (sent.append(Path(path).name), real(path)))
    assert library.purge_trashed() == 1
    assert sent == [Path(image.path).name]
    assert not any(p.suffix == ".png" for p in library.root.rglob("*"))
    assert library._conn().execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0


# --- d. close is safe ----------------------------------------------------------------------------------------------


def test_a_call_after_close_gets_a_clean_library_error(library):
    save(library)
    library.close()
    with pytest.raises(LibraryError, match="closed"):
        library.gallery()
    with pytest.raises(LibraryError, match="closed"):
        library.generation("nothing")


def test_close_while_another_thread_queries_raises_only_library_errors(library):
    for i in range(30):
        save(library, prompt=f"busy {i}")
    errors: list[BaseException] = []
    calls = threading.Event()
    stop = threading.Event()

    def reader():
        deadline = time.monotonic() + 5
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                library.gallery(HistoryQuery(search="busy"))
                library.history(limit=None)
            except LibraryError:
                return  # the clean end
            except BaseException as exc:  # noqa: BLE001 - what the test looks for
                errors.append(exc)
                return
            calls.set()
        errors.append(AssertionError("the reader never saw the library closed"))

    worker = threading.Thread(target=reader)
    worker.start()
    assert calls.wait(10)
    library.close()
    worker.join(10)
    stop.set()
    assert not worker.is_alive() and errors == []


def test_close_interrupts_a_statement_that_does_not_end(library, monkeypatch):
    from services.library import index

    monkeypatch.setattr(index, "CLOSE_WAIT_SECONDS", 0.2)
    outcome: list[BaseException] = []
    running = threading.Event()

    def endless():
        try:
            with library.index.session() as conn:
                running.set()
                conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
        except BaseException as exc:  # noqa: BLE001 - what the test looks for
            outcome.append(exc)

    worker = threading.Thread(target=endless)
    worker.start()
    assert running.wait(10)
    library.close()
    worker.join(10)
    assert not worker.is_alive()
    assert [type(e) for e in outcome] == [LibraryError] and "closed" in str(outcome[0])


def test_rebuild_while_another_thread_queries_breaks_nothing(library):
    for i in range(20):
        save(library, prompt=f"busy {i}")
    errors: list[BaseException] = []
    stop = threading.Event()
    started = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                library.gallery(HistoryQuery(search="busy"))
            except BaseException as exc:  # noqa: BLE001 - what the test looks for
                errors.append(exc)
                return
            started.set()

    worker = threading.Thread(target=reader)
    worker.start()
    assert started.wait(10)
    for _ in range(3):
        library.rebuild()
    stop.set()
    worker.join(20)
    assert not worker.is_alive() and errors == []
    assert len(library.gallery()) == 20


# --- e. a retry sends the request as it was --------------------------------------------------------------------------


def references() -> tuple[ReferenceImage, ...]:
    return (
        ReferenceImage("/somewhere/logo.png", "image/png", png("logo", 40, 30)),
        ReferenceImage("/elsewhere/photo.jpg", "image/jpeg", jpeg("photo", 50, 20)),
    )


def test_the_stored_request_comes_back_with_its_references_byte_for_byte(tmp_path):
    original = GenerationRequest(
        "put the logo on the photo", "gemini-3-pro-image", count=2, aspect_ratio="4:3", seed=7, references=references()
    )
    lib = Library(tmp_path / "lib").open()
    gid = lib.begin(original, endpoint="test", protocol="generateContent")
    lib.finish(gid, status="error", reason="The server refused.")
    lib.close()
    for path in references():
        Path(path.path).unlink(missing_ok=True)  # the artist's own files are gone or moved: no matter
    lib = Library(tmp_path / "lib").open()
    again = lib.request_of(gid)
    assert again == original
    assert [r.data for r in again.references] == [r.data for r in original.references]
    stored = sorted(p for p in (lib.root / "references").rglob("*") if p.is_file())
    assert [p.name for p in stored] == sorted(f"{r.sha256}{Path(r.path).suffix}" for r in original.references)
    stored[0].unlink()
    with pytest.raises(LibraryError, match="reference"):
        lib.request_of(gid)
    lib.close()


def test_retry_from_history_sends_the_same_request_to_the_server(library, emulator):
    original = GenerationRequest("logo on a mug", "gemini-3-pro-image", references=references())
    service = service_for(library)
    first = run(service.generate(original, endpoint=demo_endpoint(emulator), key=None))
    again = library.request_of(first.generation_id)
    run(service.generate(again, endpoint=demo_endpoint(emulator), key=None))
    sent = [r.body["contents"][0]["parts"] for r in emulator.requests if r.method == "POST"]
    assert len(sent) == 2 and sent[0] == sent[1]
    assert sent[0][1:] == [{"inlineData": {"mimeType": r.mime_type, "data": b64(r.data)}} for r in references()]


# --- schema 3 -------------------------------------------------------------------------------------------------------


def test_a_schema_2_index_that_cannot_be_migrated_still_opens_for_browsing(tmp_path):
    """A read-only library written by the previous Atelier: schema 3 only adds a column no query reads."""
    import sqlite3

    from services.library import MIGRATIONS
    from services.status import ErrorKind

    root = tmp_path / "lib"
    (root / ".atelier").mkdir(parents=True)
    old = sqlite3.connect(root / ".atelier" / "index.sqlite3", isolation_level=None)
    for statement in MIGRATIONS[1] + MIGRATIONS[2]:
        old.execute(statement)
    old.execute(
        "INSERT INTO generations(id, created_at, prompt, model, params, status) VALUES ('g', 1, 'a fox', 'm', '{}', 'ok')"
    )
    old.execute("PRAGMA user_version=2")
    old.close()
    lib = Library(root)
    lib._open_for_browsing(LibraryError("The library folder is read-only.", kind=ErrorKind.READ_ONLY))
    assert [e.prompt for e in lib.history()] == ["a fox"] and lib.history()[0].status == "ok"
    with pytest.raises(LibraryError, match="read-only"):
        lib.begin(GenerationRequest("x", "m"), endpoint="t", protocol="generateContent")
    lib.close()


# --- rows -------------------------------------------------------------------------------------------------------------


def test_the_row_of_a_just_saved_image_comes_from_the_library(library):
    from services.library import GalleryRow

    created = 1_700_000_000.5
    request = GenerationRequest("a named row", "gemini-3.1-flash-image")
    gid = library.begin(request, endpoint="test", protocol="generateContent", created_at=created)
    saved = library.save_image(gid, 0, received(png("x")), request=request, endpoint="test")
    [row] = library.gallery_rows([saved.image_id])
    assert isinstance(row, GalleryRow) and row == library.gallery()[0]
    assert (row.image_id, row.generation_id, row.created_at, row.sha256) == (saved.image_id, gid, created, saved.sha256)
    assert row[GalleryRow.PATH] == row.path and row.status == "running"
