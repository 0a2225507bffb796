"""The library: real files written atomically with their story inside, a real SQLite index, search, rebuild."""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services import metadata
from services.errors import LibraryError
from services.imaging import check_image
from services.library import HistoryQuery, Library, fts_query, slugify
from services.types import GenerationRequest, ReceivedImage
from tests.helpers import jpeg, png, png_with_chunk

ROOT = Path(__file__).resolve().parent.parent


def received(data: bytes) -> ReceivedImage:
    mime, w, h = check_image(data)
    return ReceivedImage(data, mime, w, h)


def save(library, prompt="a red fox", model="gemini-3.1-flash-image", data=None, status="ok", created=None, **kw):
    request = GenerationRequest(prompt, model, aspect_ratio="1:1", seed=kw.pop("seed", None))
    gid = library.begin(request, endpoint="test", protocol="generateContent", created_at=created)
    saved = library.save_image(
        gid,
        0,
        received(data or png(prompt)),
        request=request,
        endpoint="test",
        text=kw.pop("text", ""),
        created_at=created,
    )
    library.finish(gid, status=status, **kw)
    return gid, saved


def test_png_metadata_round_trip(library):
    gid, saved = save(library, prompt="a lighthouse, at dusk", seed=42, text="Here it is.")
    data = Path(saved.path).read_bytes()
    texts = metadata.png_texts(data)
    params = texts["parameters"].splitlines()
    assert params[0] == "a lighthouse, at dusk"
    assert "Model: gemini-3.1-flash-image" in params[1] and "Seed: 42" in params[1] and "Size: 64x48" in params[1]
    record = metadata.read_embedded(data)
    assert record["generation_id"] == gid and record["request"]["prompt"] == "a lighthouse, at dusk"
    assert record["text"] == "Here it is."
    assert hashlib.sha256(data).hexdigest() == saved.sha256
    assert check_image(data)[1:] == (64, 48)  # still a valid image


def test_non_latin_prompt_round_trips(library):
    _, saved = save(library, prompt="夕暮れの灯台 — «phare»")
    data = Path(saved.path).read_bytes()
    assert metadata.png_texts(data)["parameters"].startswith("夕暮れの灯台 — «phare»")


def test_jpeg_metadata_in_comments(library):
    gid, saved = save(library, data=jpeg("a cat"))
    data = Path(saved.path).read_bytes()
    assert saved.path.endswith(".jpg") and metadata.read_embedded(data)["generation_id"] == gid
    assert "Model: gemini-3.1-flash-image" in metadata.read_texts(data)["exif:UserComment"]


def test_c2pa_png_is_saved_byte_for_byte_with_a_sidecar(library):
    original = png_with_chunk(png("signed"), b"caBX", b"c2pa manifest store")
    gid, saved = save(library, data=original)
    assert Path(saved.path).read_bytes() == original
    sidecar = json.loads(Path(saved.path + metadata.SIDECAR_SUFFIX).read_text())
    assert sidecar["generation_id"] == gid


def test_c2pa_jpeg_app11_is_left_alone():
    data = jpeg("x")
    app11 = b"\xff\xeb" + (2 + 8).to_bytes(2, "big") + b"JP\x00\x00c2pa"
    signed = data[:2] + app11 + data[2:]
    assert metadata.has_c2pa(signed, "image/jpeg") and not metadata.can_embed(signed, "image/jpeg")


def test_webp_gets_a_sidecar(library):
    from services.emulator import Painter

    gid, saved = save(library, data=Painter().png("w", 32, 32, fmt="WEBP"))
    assert saved.path.endswith(".webp")
    assert json.loads(Path(saved.path + metadata.SIDECAR_SUFFIX).read_text())["generation_id"] == gid


def test_atomic_write_leaves_nothing_half_written(library, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(LibraryError, match="full"):
        save(library)
    leftovers = [p for p in library.images_dir.rglob("*") if p.is_file()]
    assert leftovers == []


AS_NOBODY = ["unshare", "--map-user=65534", "--map-group=65534"]  # owns our files inside, without capabilities
PRIVATE_MOUNTS = ["unshare", "-rm"]
WRITE_PROBE = """
import sys
from services.errors import LibraryError
from services.library import Library

try:
    Library(sys.argv[1]).open().check_writable()
    print("wrote")
except LibraryError as exc:
    print(f"refused {exc.kind}: {exc}")
"""


def _runs(argv: list[str]) -> bool:
    return (
        bool(shutil.which(argv[0])) and subprocess.run([*argv, "true"], capture_output=True, timeout=30).returncode == 0
    )


@pytest.mark.parametrize("cause", ["no write permission", "read-only mount"])
def test_read_only_library_says_so(tmp_path, cause):
    """Probed in a user namespace, so that it holds when the tests run as root too (root may write anywhere)."""
    lib = Library(tmp_path / "lib").open()
    images = lib.images_dir
    lib.close()
    if cause == "no write permission":
        argv, mount = AS_NOBODY, ""
    else:
        argv, mount = PRIVATE_MOUNTS, 'mount --bind "$IMAGES" "$IMAGES" && mount -o remount,bind,ro "$IMAGES" && '
    if not _runs(argv):
        pytest.skip(f"needs user namespaces ({' '.join(argv)})")
    env = {**os.environ, "IMAGES": str(images), "PYTHON": sys.executable, "PROBE": WRITE_PROBE, "PYTHONPATH": str(ROOT)}
    os.chmod(images, 0o500 if cause == "no write permission" else 0o700)
    try:
        proc = subprocess.run(
            [*argv, "sh", "-c", mount + 'exec "$PYTHON" -c "$PROBE" "$0"', str(lib.root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.chmod(images, 0o700)
    assert proc.stdout.startswith("refused read_only: ") and "read-only" in proc.stdout, proc.stdout + proc.stderr
    assert list(images.iterdir()) == [], "the probe left a file behind"


def test_thumbnail_made_once(library):
    _, saved = save(library)
    thumb = library.thumbnail_path(saved.sha256)
    assert thumb.exists() and check_image(thumb.read_bytes())[0] == "image/jpeg"
    stamp = thumb.stat().st_mtime_ns
    assert library.ensure_thumbnail(saved.path, saved.sha256) == thumb and thumb.stat().st_mtime_ns == stamp
    thumb.unlink()
    assert library.ensure_thumbnail(saved.path, saved.sha256).exists()


def test_file_names_are_safe_everywhere():
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("CON") == "con" and slugify("") == "image" and slugify("???") == "image"
    assert slugify("a" * 300) == "a" * 40
    assert slugify('Ça déjà vu: <tag> | "q" *') == "ca-deja-vu-tag-q"


def test_search_is_full_text_with_filters(library):
    now = time.time()
    save(library, prompt="a red fox in the snow", created=now - 3)
    save(library, prompt="a lighthouse at dusk", model="imagen-4.0-generate-001", created=now - 2)
    save(library, prompt="fox cub sleeping", created=now - 1)
    gid, _ = save(library, prompt="Café crème", created=now)

    def prompts(**kw):
        return [e.prompt for e in library.history(HistoryQuery(**kw))]

    assert prompts(search="fox") == ["fox cub sleeping", "a red fox in the snow"]
    assert prompts(search="fox snow") == ["a red fox in the snow"]
    assert prompts(search="light") == ["a lighthouse at dusk"]  # prefix while typing
    assert prompts(search="cafe") == ["Café crème"]  # diacritics folded
    assert prompts(search='"; DROP TABLE images; --') == []
    assert prompts(model="imagen-4.0-generate-001") == ["a lighthouse at dusk"]
    assert prompts(since=now - 1.5) == ["Café crème", "fox cub sleeping"]
    assert fts_query("  ") is None


def test_failed_attempts_are_history_and_gallery_rows(library):
    request = GenerationRequest("x #blocked", "gemini-3.1-flash-image")
    gid = library.begin(request, endpoint="test", protocol="generateContent")
    library.finish(gid, status="blocked", reason="The prompt was blocked.")
    save(library)
    rows = library.gallery()
    assert [r[3] for r in rows] == ["ok", "blocked"]
    assert [r[3] for r in library.gallery(HistoryQuery(include_failed=False))] == ["ok"]
    assert [e.status for e in library.history(HistoryQuery(statuses=("blocked",)))] == ["blocked"]


def test_favourite_and_trash(library):
    _, a = save(library, prompt="one")
    _, b = save(library, prompt="two")
    library.set_favourite([a.image_id], True)
    assert [r[0] for r in library.gallery(HistoryQuery(favourites_only=True))] == [a.image_id]
    library.trash([b.image_id])
    assert [r[0] for r in library.gallery()] == [a.image_id]
    library.trash([b.image_id], False)
    assert len(library.gallery()) == 2
    library.trash([b.image_id])
    assert library.purge_trashed() == 1 and not os.path.exists(b.path)


def test_interrupted_jobs_of_dead_processes(tmp_path):
    lib = Library(tmp_path / "lib").open()
    gid = lib.begin(GenerationRequest("x", "m"), endpoint="t", protocol="generateContent")
    lib._conn().execute("UPDATE generations SET pid=999999999 WHERE id=?", (gid,))
    mine = lib.begin(GenerationRequest("y", "m"), endpoint="t", protocol="generateContent")
    lib.close()
    lib = Library(tmp_path / "lib").open()
    assert lib.generation(gid).status == "interrupted" and "Retry" in lib.generation(gid).reason
    assert lib.generation(mine).status == "running"  # this process is alive
    lib.close()


def test_rebuild_from_files_keeps_every_image(tmp_path):
    lib = Library(tmp_path / "lib").open()
    gids = [save(lib, prompt=f"picture {i}")[0] for i in range(3)]
    _, signed = save(lib, data=png_with_chunk(png("s"), b"caBX", b"manifest"), prompt="signed one")
    lib.set_favourite([signed.image_id], True)
    lib.close()
    lib.db_path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (lib.db_path.parent / (lib.db_path.name + suffix)).unlink(missing_ok=True)
    with pytest.raises(LibraryError, match="Rebuild"):
        Library(tmp_path / "lib").open()
    lib = Library(tmp_path / "lib")
    report = lib.rebuild()
    assert report["images"] == 4 and report["without_metadata"] == 0
    entries = lib.history(HistoryQuery(search="picture"))
    assert sorted(e.generation_id for e in entries) == sorted(gids)
    assert lib.history(HistoryQuery(search="signed"))[0].images[0].path == signed.path
    lib.close()


def test_newer_schema_is_refused_and_older_is_backed_up(tmp_path):
    lib = Library(tmp_path / "lib").open()
    lib.close()
    conn = sqlite3.connect(lib.db_path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(LibraryError, match="newer Atelier"):
        Library(tmp_path / "lib").open()


@pytest.mark.parametrize("few", [0, 3, 10_000])
def test_a_search_lists_the_same_rows_whether_it_walks_or_reads_its_few_matches(library, monkeypatch, few):
    """A search matching few prompts (FEW_MATCHES, twice a first screen) reads them by seq and sorts them; a broader
    one walks the generations newest first. Both give the walk's rows, in the gallery's order, at every LIMIT, with
    failed attempts, several images to a generation, out-of-order times, trashed and rejected images."""
    from services.library import queries

    now = time.time()
    words = ["fox", "lake", "crane", "lantern"]
    for n in range(24):
        prompt = " ".join(w for k, w in enumerate(words) if n % (k + 2) == 0) or "nothing"
        gid, _ = save(library, prompt=f"{prompt} {n}", created=now - (n * 7919) % 24)  # times not in seq order
        if n % 5 == 0:
            request = GenerationRequest(prompt, "gemini-3.1-flash-image")
            library.save_image(gid, 1, received(png(f"second {n}")), request=request, endpoint="test")
    failed = library.begin(GenerationRequest("fox lake blocked", "m"), endpoint="test", protocol="generateContent")
    library.finish(failed, status="blocked", reason="The prompt was blocked.")
    rows = library.gallery()
    library.rate([rows[1].sha256], "reject")
    library.rate([rows[2].sha256, rows[5].sha256], 4)
    library.trash([rows[3].image_id])
    searches = ["fox", "fox la", "lake crane", "fox lake crane lantern", "lan", "nothing", "zebra", "!!"]
    monkeypatch.setattr(queries, "FEW_MATCHES", 0)  # every search walks
    walked = {(s, limit): library.gallery(HistoryQuery(search=s), limit) for s in searches for limit in (2, 5, None)}
    monkeypatch.setattr(queries, "FEW_MATCHES", few)
    for (search, limit), expected in walked.items():
        got, ratings = library.gallery_with_ratings(HistoryQuery(search=search), limit)
        assert got == [tuple(r) for r in expected]
        assert ratings == library.ratings([r[4] for r in got if r[4]])
    assert walked["fox la", None][0].generation_id == failed  # the attempt without an image, the newest
    assert rows[1].sha256 not in {r.sha256 for r in walked["fox", None]}
    assert len(walked["fox", None]) > len(walked["fox", 5]) == 5
    everything = walked["fox", None]
    assert everything == sorted(everything, key=lambda r: (-r.created_at, -(r.image_id or -1)))


def test_a_search_without_words_finds_nothing_in_every_order(library):
    """Only punctuation used to leave SQLite no plan ("no query solution") in the gallery's walks."""
    save(library, prompt="a red fox")
    for query in (
        HistoryQuery(search="!!"),
        HistoryQuery(search="?", by_rating=True),
        HistoryQuery(search="-", min_rating=1),
    ):
        assert library.gallery(query) == [] and library.gallery_with_ratings(query, 10) == ([], {})


def test_a_search_with_few_matches_reads_them_by_seq(library):
    """The plan of a narrow search's first screen: its matches looked up by seq, not a walk of every generation."""
    from services.library import queries

    save(library, prompt="a red fox")
    with library.index.session() as conn:
        captured: list[str] = []
        conn.set_trace_callback(captured.append)
        try:
            queries.gallery(conn, HistoryQuery(search="fox"), 1500)
        finally:
            conn.set_trace_callback(None)
        sql = next(s for s in captured if s.startswith("SELECT i.id"))
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "generations_created" not in sql and "MATCH" not in sql
    assert "SEARCH g USING INTEGER PRIMARY KEY" in plan


def test_a_cancelled_gallery_read_stops_between_chunks(library, monkeypatch):
    """A read no one waits for any more (a newer search took over) stops after the chunk it is in, not after
    100,000 rows; without `cancelled` it reads everything."""
    from services.errors import Cancelled
    from services.library import queries

    for n in range(30):
        save(library, prompt=f"fox {n}")
    monkeypatch.setattr(queries, "_CHUNK_ROWS", 4)
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) >= 2

    with pytest.raises(Cancelled):
        library.gallery_with_ratings(HistoryQuery(search="fox"), None, cancelled=cancelled)
    assert len(asked) == 2  # 8 of 30 rows read, then given up
    rows, _ = library.gallery_with_ratings(HistoryQuery(search="fox"), None, cancelled=lambda: False)
    assert len(rows) == 30 == len(library.gallery_with_ratings(HistoryQuery(search="fox"))[0])
