"""Other tools' images in the library: folders added in place or copied, rescans, rebuild, cancel, the CLI."""

import json
import os
import shutil
import threading

from services.library import HistoryQuery, Library
from services.status import Status
from tests import foreign_files as ff
from tests.damaged_files import write_damaged_files
from tests.helpers import PAINTER
from tests.test_cli import atelier


def tool_folder(folder):
    """One image of each tool, an image with no metadata, and a file that is not an image."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "a1111.png").write_bytes(ff.a1111_png(prompt="a castle on a hill"))
    (folder / "sub" / "forge.jpg").write_bytes(ff.a1111_jpeg(prompt="a harbour at dusk"))
    (folder / "comfy.png").write_bytes(ff.comfyui_png(ff.comfyui_graph(positive="a red fox in snow")))
    (folder / "invoke.png").write_bytes(ff.invokeai_png())
    (folder / "fooocus.png").write_bytes(ff.fooocus_png())
    (folder / "plain.png").write_bytes(PAINTER.png("plain", 24, 16))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def sources(library):
    return {os.path.basename(e.images[0].path): e.source for e in library.history(limit=None) if e.images}


def test_add_folder_in_place_reads_every_tool_and_copies_nothing(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    before = sorted(p.name for p in library.images_dir.rglob("*"))
    report = library.import_paths([folder])
    assert report["added"] == 6
    assert [f["path"] for f in report["failed"]] == [str(folder / "broken.png")]
    assert sources(library) == {
        "a1111.png": "a1111",
        "forge.jpg": "a1111",
        "comfy.png": "comfyui",
        "invoke.png": "invokeai",
        "fooocus.png": "fooocus",
        "plain.png": "unknown",
    }
    assert sorted(p.name for p in library.images_dir.rglob("*")) == before  # nothing copied
    [fox] = library.history(HistoryQuery(search="fox"))
    assert fox.status == Status.IMPORTED and fox.images[0].path == str(folder / "comfy.png")
    assert os.path.exists(fox.images[0].path)
    assert library.history(HistoryQuery(search="harbour"))[0].source == "a1111"
    assert len(library.gallery()) == 6  # each once, as images: not also as attempts without one
    unfinished = (
        "SELECT COUNT(*) FROM generations INDEXED BY generations_unfinished WHERE status NOT IN ('ok', 'imported')"
    )
    assert library._conn().execute(unfinished).fetchone()[0] == 0  # the gallery's index of attempts stays small
    again = library.import_paths([folder])  # nothing new: every file skipped by path, size and mtime
    assert (again["added"], again["skipped"]) == (0, 6)


def test_damaged_files_are_images_or_one_sentence_each(library, tmp_path):
    written = write_damaged_files(tmp_path / "damaged")
    report = library.import_paths([tmp_path / "damaged"])
    assert report["added"] + len(report["failed"]) == len(written)
    assert report["added"] > 0
    for failed in report["failed"]:
        assert failed["reason"].endswith(".") and "Traceback" not in failed["reason"]


def test_copy_puts_files_in_the_library_and_rebuild_brings_every_image_back(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    copied = tool_folder(tmp_path / "other")
    (copied / "comfy.png").write_bytes(ff.comfyui_png(ff.comfyui_graph(positive="an owl in the rain")))
    library.import_paths([folder])
    report = library.import_paths([copied], copy=True)
    assert report["added"] == 6 and report["folders"] == []
    assert (library.images_dir / "imported" / "other" / "sub" / "forge.jpg").exists()
    [owl] = library.history(HistoryQuery(search="owl"))
    assert owl.images[0].path.startswith(str(library.images_dir))
    library.set_favourite([owl.images[0].image_id], True)
    before = {(e.generation_id, e.prompt, e.source) for e in library.history(limit=None)}
    library.rebuild()
    after = {(e.generation_id, e.prompt, e.source) for e in library.history(limit=None)}
    assert after == before and len(after) == 12
    assert library.history(HistoryQuery(search="fox"))[0].images[0].path == str(folder / "comfy.png")
    assert library.history(HistoryQuery(search="owl", favourites_only=True))


def test_rescan_sees_files_added_moved_changed_and_deleted_outside(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    library.import_paths([folder])
    [castle] = library.history(HistoryQuery(search="castle"))
    library.set_favourite([castle.images[0].image_id], True)
    (folder / "new.png").write_bytes(ff.a1111_png(prompt="a new moon"))
    (folder / "sub" / "deeper").mkdir()
    shutil.move(folder / "a1111.png", folder / "sub" / "deeper" / "castle.png")
    (folder / "plain.png").unlink()
    (folder / "fooocus.png").write_bytes(ff.a1111_png(prompt="repainted meadow"))
    report = library.rescan_folders()
    assert (report["added"], report["moved"], report["changed"], report["removed"]) == (1, 1, 1, 1)
    [moved] = library.history(HistoryQuery(search="castle", favourites_only=True))  # the row kept its favourite
    assert moved.images[0].path == str(folder / "sub" / "deeper" / "castle.png")
    assert library.history(HistoryQuery(search="moon"))
    assert library.history(HistoryQuery(search="meadow"))[0].source == "a1111"
    assert "plain.png" not in sources(library)


def test_the_watch_rescans_while_the_library_is_open(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    library.import_paths([folder])
    changed = threading.Event()
    (folder / "late.png").write_bytes(ff.a1111_png(prompt="arrived late"))
    watch = library.watch_folders(interval=0.05, on_change=lambda report: changed.set())
    try:
        assert changed.wait(10)
    finally:
        watch.stop()
    assert library.history(HistoryQuery(search="late"))


def test_deleting_an_added_folders_image_hides_it_and_leaves_the_file(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    library.import_paths([folder])
    [fox] = library.history(HistoryQuery(search="fox"))
    keys = library.trash([fox.images[0].image_id])
    assert (folder / "comfy.png").exists() and len(library.gallery()) == 5
    assert library.rescan_folders()["added"] == 0 and len(library.gallery()) == 5
    library.rebuild()
    assert len(library.gallery()) == 5  # still deleted after a rebuild
    [restored] = library.restore(keys)
    assert restored.path == str(folder / "comfy.png")
    assert len(library.gallery()) == 6
    library.trash([restored.image_id])
    library.purge_trashed()  # the system trash never gets a file of an added folder
    assert (folder / "comfy.png").exists() and len(library.gallery()) == 5


def test_an_unplugged_folder_keeps_its_images_and_a_moved_one_is_relocated(library, tmp_path):
    folder = tool_folder(tmp_path / "sd")
    library.import_paths([folder])
    folder.rename(tmp_path / "elsewhere")
    report = library.rescan_folders()
    assert report["removed"] == 0 and len(library.gallery()) == 6
    [entry] = library.folders.all()
    library.relocate_folder(entry.id, tmp_path / "elsewhere")
    assert library.history(HistoryQuery(search="fox"))[0].images[0].path == str(tmp_path / "elsewhere" / "comfy.png")
    assert library.rescan_folders()["removed"] == 0
    assert json.loads((library.meta_dir / "folders.json").read_text())["folders"][0]["path"] == str(
        tmp_path / "elsewhere"
    )
    library.remove_folder(entry.id)  # forgotten by the library, the files untouched
    assert library.gallery() == [] and library.folders.all() == [] and (tmp_path / "elsewhere" / "comfy.png").exists()


def test_atelier_images_in_an_added_folder_are_read_as_atelier(library, tmp_path):
    from services.types import GenerationRequest, ReceivedImage

    other = Library(tmp_path / "other-library").open()
    try:
        request = GenerationRequest(prompt="a copper kettle", model="gemini-2.5-flash-image")
        gid = other.begin(request, endpoint="demo", protocol="generateContent")
        other.save_image(gid, 0, ReceivedImage(PAINTER.png("kettle", 32, 24), "image/png", 32, 24), request=request,
                         endpoint="demo")  # fmt: skip
        source_dir = other.images_dir
    finally:
        other.close()
    library.import_paths([source_dir])
    [kettle] = library.history(HistoryQuery(search="kettle"))
    assert (kettle.status, kettle.source) == (Status.IMPORTED, "atelier")
    assert kettle.as_json()["model"] == "gemini-2.5-flash-image"
    assert kettle.params["atelier_generation_id"] == gid


def test_cancel_mid_import_keeps_the_batches_committed(library, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i}.png").write_bytes(ff.a1111_png(prompt=f"picture {i}"))
    cancel, batches, seen = threading.Event(), [], []

    def on_batch(ids):
        batches.append(len(ids))
        seen.append(library.count_images())  # committed: visible to readers as it lands
        if len(batches) == 2:
            cancel.set()

    report = library.import_paths([folder], cancel=cancel, on_batch=on_batch, batch_size=10)
    assert report["cancelled"] and batches == [10, 10] and seen == [10, 20]
    assert library.count_images() == 20
    assert library.rescan_folders()["added"] == 20 and library.count_images() == 40


def test_cli_import_contract(tmp_path):
    folder = tool_folder(tmp_path / "sd")
    lib = str(tmp_path / "lib")
    code, out, err = atelier("import", str(folder), "--library", lib, "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["added"] == 6 and body["skipped"] == 0 and body["folders"][0]["path"] == str(folder)
    assert body["failed"] == [{"path": str(folder / "broken.png"), "reason": body["failed"][0]["reason"]}]
    code, out, _ = atelier("import", str(folder / "a1111.png"), "--library", lib, "--json")  # a file: copied
    assert code == 0 and json.loads(out)["added"] == 1
    code, out, _ = atelier("history", "--search", "castle", "--library", lib, "--json")
    entries = json.loads(out)
    assert {e["status"] for e in entries} == {"imported"} and len(entries) == 2
    assert {e["source"] for e in entries} == {"a1111"} and entries[0]["model"]
    code, out, _ = atelier("history", "--library", lib, "--json", "--limit", "50")
    plain = [e for e in json.loads(out) if e["images"] and e["images"][0]["path"].endswith("plain.png")]
    assert plain[0]["source"] == "unknown" and plain[0]["model"] is None
    code, out, err = atelier("import", str(tmp_path / "nowhere"), str(folder), "--library", lib, "--json")
    assert code == 2 and "does not exist" in err
    body = json.loads(out)  # the import's own shape, nothing imported
    assert body["added"] == 0 and body["failed"] == [
        {"path": str(tmp_path / "nowhere"), "reason": "It does not exist."}
    ]
    assert body["folders"] == [] and body["error"]["kind"] == "input"
