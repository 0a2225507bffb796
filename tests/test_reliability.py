"""Faults a real process meets: SIGKILL mid-batch, a full or read-only disk, two processes on one library, an old
index. Each test runs the real command line in a real process against a real library folder."""

import hashlib
import json
import os
import random
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services import library as library_module
from services.imaging import check_image
from services.library import HistoryQuery, Library
from services.types import GenerationRequest
from tests.helpers import png

ROOT = Path(__file__).resolve().parent.parent
SAVED_LINE = re.compile(r"^\s*saved \d+/\d+\s+\d+x\d+\s+(.+)$", re.M)


def atelier_argv(*args) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *args]


def whole_image(path: Path) -> str:
    """The sha256 of a file that decodes as an image; fails the test otherwise."""
    data = path.read_bytes()
    check_image(data)
    return hashlib.sha256(data).hexdigest()


def job_started(proc: subprocess.Popen, timeout: float = 60) -> str:
    """Waits (bounded) for the CLI's "Generating…" line: the library is open and the job is about to begin."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    assert line.startswith("Generating"), f"no 'Generating' line within {timeout} s: {line!r}"
    return line


def test_sigkill_at_random_moments_keeps_every_reported_image(tmp_path):
    """Kills land at random moments of the job itself: timed from "Generating…", not from the process start (no kill
    is spent while Python imports), and within the warm-up's job time (the first run is the slowest, so few land
    after the end). 1K images keep each batch short; tried here, as many kills landed mid-save as with 2K, in a third
    of the time."""
    lib = tmp_path / "lib"
    env = {**os.environ, "ATELIER_DEMO_LATENCY": "0.15"}
    batch = ["--endpoint", "demo", "--count", "4", "--size", "1K", "--library", str(lib)]

    def start(prompt: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(atelier_argv("generate", prompt, *batch), env=env, stdout=subprocess.PIPE, text=True)
        return proc, job_started(proc)

    first, _ = start("warm up")
    started = time.monotonic()
    out, _ = first.communicate(timeout=120)
    job_time = time.monotonic() - started
    assert first.returncode == 0, out
    reported = SAVED_LINE.findall(out)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kill_points = sorted(rng.uniform(0, job_time) for _ in range(14))
    for n, delay in enumerate(kill_points):
        proc, _ = start(f"killed batch {n}")
        time.sleep(delay)  # the kill's moment, chosen at random: not a wait for something
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        reported += SAVED_LINE.findall(out)
    context = f"(seed {seed}, kills at {[round(k, 2) for k in kill_points]} s into a {job_time:.2f} s job)"

    library = Library(lib).open()  # what the next start sees
    try:
        conn = library._conn()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", context
        indexed = {
            str(lib / path): sha for path, sha in conn.execute("SELECT path, sha256 FROM images WHERE NOT trashed")
        }
        for path in reported:
            assert path in indexed, f"a reported image is not in the gallery {context}"
            assert whole_image(Path(path)) == indexed[path], context
        for path, sha in indexed.items():
            assert whole_image(Path(path)) == sha, f"a gallery image is not whole {context}"
        on_disk = {str(p) for p in library.images_dir.rglob("*") if p.is_file()}
        assert on_disk == set(indexed), f"files outside the gallery, or temp files left {context}"
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM generations GROUP BY status").fetchall())
        assert set(statuses) <= {"ok", "interrupted"}, (statuses, context)
        rows = library.gallery(HistoryQuery())
        assert {str(lib / r[5]) for r in rows if r[5]} == set(indexed)
        interrupted = library.history(HistoryQuery(statuses=("interrupted",)))
    finally:
        library.close()
    assert interrupted, f"no kill landed inside a job {context}"
    assert all("Retry" in e.reason for e in interrupted)
    again = subprocess.run(  # the interrupted job runs again on the same library
        atelier_argv("generate", interrupted[0].prompt, *batch, "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and len(json.loads(again.stdout)["images"]) == 4, again.stderr


def test_images_renamed_into_place_before_the_kill_are_recovered(tmp_path):
    """The window between a file's rename and its index row (the thumbnail is made in it) is not a loss."""
    lib = Library(tmp_path / "lib").open()
    request = GenerationRequest("half done", "gemini-3.1-flash-image", count=2)
    gid = lib.begin(request, endpoint="test", protocol="generateContent")
    saved = lib.save_image(gid, 0, _received(), request=request, endpoint="test")
    lib._conn().execute("DELETE FROM images WHERE id=?", (saved.image_id,))  # the row the kill prevented
    folder = Path(saved.path).parent
    (folder / f".{Path(saved.path).name}.999999.1.tmp").write_bytes(b"\x89PNG half")  # a write cut short
    lib._conn().execute("UPDATE generations SET pid=999999999 WHERE id=?", (gid,))
    lib.close()
    lib = Library(tmp_path / "lib").open()
    entry = lib.generation(gid)
    assert entry.status == "interrupted" and "1 of 2 images were saved" in entry.reason
    assert [i.path for i in entry.images] == [saved.path]
    assert sorted(p.name for p in folder.iterdir()) == [Path(saved.path).name]
    lib.close()


def _received():
    from services.types import ReceivedImage

    data = png("recovered", 64, 48)
    return ReceivedImage(data, "image/png", 64, 48)


# --- disk ------------------------------------------------------------------------------------------------------


def _namespace_available() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0


needs_mounts = pytest.mark.skipif(
    not _namespace_available(), reason="needs user namespaces (unshare -rm) to mount a small or read-only disk"
)


def in_private_mounts(script: str, lib: Path) -> list[dict]:
    """Runs `script` (sh) in a mount namespace of its own, with $LIB and $ATELIER; returns its STEP lines."""
    env = {**os.environ, "LIB": str(lib), "ATELIER": f"{sys.executable} {ROOT / 'main.py'}"}
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    steps = []
    for line in proc.stdout.splitlines():
        if line.startswith("STEP "):
            name, code = line.split()[1:3]
            steps.append({"name": name, "exit": int(code)})
    assert steps, proc.stdout + proc.stderr
    return steps, proc.stdout, proc.stderr


@needs_mounts
def test_full_disk_says_so_keeps_what_was_saved_and_the_retry_works(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    steps, out, err = in_private_mounts(
        """
        mount -t tmpfs -o size=4m tmpfs "$LIB"
        step() { name=$1; shift; "$@"; echo "STEP $name $?"; }
        step first $ATELIER generate "kept safe" --endpoint demo --library "$LIB" --json
        dd if=/dev/zero of="$LIB/filler" bs=4k 2>/dev/null
        step full $ATELIER generate "no room" --endpoint demo --library "$LIB" --json
        step browse $ATELIER history --library "$LIB" --json
        rm "$LIB/filler"
        # room for the probe and the index, not for a 2K image: the save itself fails
        dd if=/dev/zero of="$LIB/filler" bs=4k count=$(( $(df -k "$LIB" | awk 'NR==2 {print $4}') / 4 - 40 )) 2>/dev/null
        step mid_save $ATELIER generate "room for none" --endpoint demo --size 2K --count 2 --library "$LIB" --json
        rm "$LIB/filler"
        step retry $ATELIER generate "room for none" --endpoint demo --size 2K --count 2 --library "$LIB" --json
        step history $ATELIER history --library "$LIB" --json
        for f in $(find "$LIB/images" -type f); do sha256sum "$f"; done
        """,
        lib,
    )
    codes = {s["name"]: s["exit"] for s in steps}
    assert codes == {"first": 0, "full": 6, "browse": 0, "mid_save": 6, "retry": 0, "history": 0}, out + err
    bodies = [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]
    first, full, browse, mid_save, retry, history = bodies
    assert "full" in full["reason"] and "Free some space" in full["reason"]
    assert "full" in mid_save["reason"] and mid_save["images"] == [] and mid_save["error"]["status"] == "LIBRARY"
    assert [e["prompt"] for e in browse] == ["kept safe"]
    assert len(retry["images"]) == 2
    assert [e["status"] for e in history] == ["ok", "error", "ok"]
    files = dict(line.split()[::-1] for line in out.splitlines() if line.endswith(".png"))
    assert first["images"][0]["path"] in files and files[first["images"][0]["path"]] == first["images"][0]["sha256"]
    assert len(files) == 3, "the failed save left a file behind"


@needs_mounts
def test_read_only_library_browses_and_refuses_to_write_plainly(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    steps, out, err = in_private_mounts(
        """
        step() { name=$1; shift; "$@"; echo "STEP $name $?"; }
        step first $ATELIER generate "before" --endpoint demo --library "$LIB" --json
        mount --bind "$LIB" "$LIB" && mount -o remount,bind,ro "$LIB"
        step refused $ATELIER generate "after" --endpoint demo --library "$LIB" --json
        step browse $ATELIER history --library "$LIB" --json
        step rebuild $ATELIER rebuild --library "$LIB" --json
        """,
        lib,
    )
    codes = {s["name"]: s["exit"] for s in steps}
    assert codes == {"first": 0, "refused": 6, "browse": 0, "rebuild": 6}, out + err
    bodies = [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]
    assert "read-only" in bodies[1]["reason"]
    assert [e["prompt"] for e in bodies[2]] == ["before"]
    assert "read-only" in err
    # outside the namespace the folder is writable again: the same library works and kept everything
    again = subprocess.run(
        atelier_argv("generate", "after", "--endpoint", "demo", "--library", str(lib), "--json"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    lib_now = Library(lib).open()
    assert [e.prompt for e in lib_now.history()] == ["after", "before"]
    lib_now.close()


# --- two processes ---------------------------------------------------------------------------------------------


def test_two_processes_on_one_library(tmp_path):
    """CLI batches in other processes while this one saves, favourites and reads, as the window does."""
    lib_root = tmp_path / "lib"
    env = {**os.environ, "ATELIER_DEMO_LATENCY": "0.05"}
    batches = [
        subprocess.Popen(
            atelier_argv("generate", f"batch {n}", "--endpoint", "demo", "--count", "4", "--library", str(lib_root)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    library = Library(lib_root).open()
    request = GenerationRequest("from the window", "gemini-3.1-flash-image")

    def window_work(i: int) -> int:
        gid = library.begin(request, endpoint="test", protocol="generateContent")
        saved = library.save_image(gid, 0, _received(), request=request, endpoint="test")
        library.finish(gid, status="ok")
        library.set_favourite([saved.image_id], True)
        library.gallery(HistoryQuery(search="batch"))
        return saved.image_id

    try:
        with ThreadPoolExecutor(2) as pool:
            mine = list(pool.map(window_work, range(12)))
        outputs = [p.communicate(timeout=120) for p in batches]
    finally:  # a failure here leaves no batch running after the test
        for p in batches:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=30)
    assert [p.returncode for p in batches] == [0, 0, 0], [e for _, e in outputs]
    conn = library._conn()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(library.gallery(HistoryQuery(search="batch"))) == 12
    assert sorted(r[0] for r in library.gallery(HistoryQuery(favourites_only=True))) == sorted(mine)
    assert library.count_images() == 24
    library.close()


# --- migrations ------------------------------------------------------------------------------------------------


def test_an_older_index_is_backed_up_then_migrated(tmp_path):
    """Builds a real version-1 index (the first schema), then opens it with this Atelier."""
    assert library_module.SCHEMA_VERSION >= 2, "add a migration to test this path against the current schema"
    root = tmp_path / "lib"
    (root / ".atelier").mkdir(parents=True)
    db = root / ".atelier" / "index.sqlite3"
    old = sqlite3.connect(db, isolation_level=None)
    for statement in library_module.MIGRATIONS[1]:
        old.execute(statement)
    old.execute(
        "INSERT INTO generations(id, created_at, prompt, model, params, status) VALUES ('g1', 1.0, 'an old fox', 'm',"
        " '{}', 'ok')"
    )
    old.execute(
        "INSERT INTO images(generation_id, idx, path, width, height, mime_type, sha256, size_bytes, created_at,"
        " favourite) VALUES ('g1', 0, 'images/old.png', 4, 3, 'image/png', 'abc', 10, 1.0, 1)"
    )
    old.execute("PRAGMA user_version=1")
    old.close()

    lib = Library(root).open()
    assert lib._conn().execute("PRAGMA user_version").fetchone()[0] == library_module.SCHEMA_VERSION
    assert [e.prompt for e in lib.history(HistoryQuery(search="fox"))] == ["an old fox"]
    assert [r[0] for r in lib.gallery(HistoryQuery(favourites_only=True))] == [1]
    lib.close()
    backups = list((root / ".atelier").glob("index.v1.*.bak.sqlite3"))
    assert len(backups) == 1
    kept = sqlite3.connect(backups[0])
    assert kept.execute("PRAGMA user_version").fetchone()[0] == 1
    assert kept.execute("SELECT prompt FROM generations").fetchall() == [("an old fox",)]
    kept.close()
    again = Library(root).open()  # already current: opens without a second migration or backup
    assert [e.prompt for e in again.history()] == ["an old fox"]
    again.close()
    assert len(list((root / ".atelier").glob("*.bak.sqlite3"))) == 1, "a current index was backed up again"
