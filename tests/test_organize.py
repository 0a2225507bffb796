"""Boards, tags, ratings and look-alikes: through the facade and the CLI, after a rebuild and in a copied library."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.errors import InputError
from services.imaging import encode
from services.library import HistoryQuery, Library
from services.library import organize as organizing
from tests.helpers import png
from tests.test_cli import atelier
from tests.test_library import save


def picture(prompt: str, width: int = 512, height: int = 384) -> bytes:
    return png(prompt, width, height)


def scaled(data: bytes, width: int, height: int) -> bytes:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    image = QImage.fromData(data).scaled(
        width, height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return encode(image, "PNG")


def as_jpeg(data: bytes, quality: int = 70) -> bytes:
    from PySide6.QtGui import QImage

    return encode(QImage.fromData(data), "JPEG", quality)


def checkerboard(width: int = 512, height: int = 384) -> bytes:
    from PySide6.QtGui import QColor, QImage

    image = QImage(width, height, QImage.Format.Format_RGB32)
    for y in range(0, height, 32):
        for x in range(0, width, 32):
            shade = 230 if (x // 32 + y // 32) % 2 else 25
            colour = QColor(shade, (x * 255) // width, (y * 255) // height)
            for yy in range(y, min(y + 32, height)):
                for xx in range(x, min(x + 32, width), 1):
                    image.setPixelColor(xx, yy, colour)
    return encode(image, "PNG")


def env_for(library_root: Path) -> dict:
    return {"ATELIER_LIBRARY": str(library_root)}


def cli_json(*args):
    code, out, err = atelier(*args, "--json")
    assert "Traceback" not in err, err
    return code, (json.loads(out) if out.strip() else None), err


def three_images(library):
    _, fox = save(library, prompt="a red fox in the snow", data=picture("a red fox in the snow"))
    _, owl = save(library, prompt="an owl at night", data=picture("an owl at night"))
    _, sea = save(library, prompt="a calm sea", data=picture("a calm sea"))
    return fox, owl, sea


def gallery_shas(library, **query) -> set[str]:
    return {row.sha256 for row in library.gallery(HistoryQuery(**query)) if row.sha256}


def test_boards_tags_ratings_filter_and_rejected_is_hidden(library):
    fox, owl, sea = three_images(library)
    library.board_add("Forest", [fox.sha256, owl.sha256])
    library.board_add("  Sea   side ", [sea.sha256])
    library.tag([fox.sha256], ["Winter", "animal"])
    library.tag([owl.sha256], ["animal"])
    library.rate([fox.sha256], 5)
    library.rate([owl.sha256], 2)
    library.rate([sea.sha256], "reject")

    assert library.boards() == [{"name": "Forest", "count": 2}, {"name": "Sea side", "count": 1}]
    assert gallery_shas(library, board="Forest") == {fox.sha256, owl.sha256}
    assert gallery_shas(library, tag="animal") == {fox.sha256, owl.sha256}
    assert gallery_shas(library, tag="WINTER") == {fox.sha256}
    assert gallery_shas(library, min_rating=3) == {fox.sha256}
    assert gallery_shas(library) == {fox.sha256, owl.sha256}  # rejected: hidden, not deleted
    assert gallery_shas(library, include_rejected=True) == {fox.sha256, owl.sha256, sea.sha256}
    assert Path(sea.path).exists()
    prompts = [e.prompt for e in library.history()]
    assert "a calm sea" not in prompts and "an owl at night" in prompts
    by_stars = [r.sha256 for r in library.gallery(HistoryQuery(by_rating=True, include_rejected=True))]
    assert by_stars == [fox.sha256, owl.sha256, sea.sha256]
    assert library.organize_info([fox.sha256])[fox.sha256] == {
        "rating": 5,
        "tags": ["animal", "winter"],
        "boards": ["Forest"],
    }

    library.rate([sea.sha256], 0)
    library.tag([fox.sha256], ["winter"], remove=True)
    library.board_add("Forest", [owl.sha256], remove=True)
    assert gallery_shas(library) == {fox.sha256, owl.sha256, sea.sha256}
    assert library.organize_info([fox.sha256])[fox.sha256]["tags"] == ["animal"]
    assert library.boards()[0] == {"name": "Forest", "count": 1}
    assert library.tags() == [("animal", 2)]


def test_survives_rebuild_and_copy_to_another_folder(library, tmp_path):
    fox, owl, sea = three_images(library)
    library.board_add("Forest", [fox.sha256, owl.sha256])
    library.tag([owl.sha256], ["night"])
    library.rate([sea.sha256], "reject")
    library.rate([fox.sha256], 4)
    expected = library.organize_info([fox.sha256, owl.sha256, sea.sha256])

    library.rebuild()
    assert library.organize_info([fox.sha256, owl.sha256, sea.sha256]) == expected
    assert gallery_shas(library, board="Forest") == {fox.sha256, owl.sha256}
    assert sea.sha256 not in gallery_shas(library)
    library.close()

    copy = tmp_path / "elsewhere" / "library"
    shutil.copytree(library.root, copy)
    other = Library(copy).open()
    try:
        assert other.organize_info([fox.sha256, owl.sha256, sea.sha256]) == expected
        (copy / ".atelier" / "index.sqlite3").unlink()  # the copy lost its index: the journal alone suffices
        for suffix in ("-wal", "-shm"):
            Path(str(copy / ".atelier" / "index.sqlite3") + suffix).unlink(missing_ok=True)
        other.close()
        other = Library(copy)
        other.rebuild()
        assert other.organize_info([fox.sha256, owl.sha256, sea.sha256]) == expected
        assert other.boards() == [{"name": "Forest", "count": 2}]
    finally:
        other.close()


def test_two_libraries_on_one_folder_see_each_others_changes(library):
    fox, owl, _ = three_images(library)
    second = Library(library.root).open()
    try:
        second.tag([fox.sha256], ["shared"])
        library.rate([owl.sha256], 3)
        assert library.organize_info([fox.sha256])[fox.sha256]["tags"] == ["shared"]
        assert second.organize_info([owl.sha256])[owl.sha256]["rating"] == 3
    finally:
        second.close()


def test_a_torn_journal_line_is_skipped_and_the_next_line_counts(library):
    fox, owl, _ = three_images(library)
    library.tag([fox.sha256], ["first"])
    journal = organizing.journal_path(library.meta_dir)
    with open(journal, "ab") as f:
        f.write(b'{"v":1,"op":"tag_add","tags":["torn"],"ima')  # a writer died here
    library.tag([owl.sha256], ["second"])
    library.rebuild()
    info = library.organize_info([fox.sha256, owl.sha256])
    assert info[fox.sha256]["tags"] == ["first"] and info[owl.sha256]["tags"] == ["second"]
    assert sum(1 for line in journal.read_bytes().splitlines() if line.strip()) == 3


def test_resolve_by_path_sha_prefix_and_refusals(library, tmp_path):
    fox, owl, _ = three_images(library)
    assert library.resolve_image(fox.path) == fox.sha256
    assert library.resolve_image(os.path.relpath(fox.path, library.root)) == fox.sha256
    assert library.resolve_image(fox.sha256[:8].upper()) == fox.sha256
    outside = tmp_path / "copy-of-owl.png"
    outside.write_bytes(Path(owl.path).read_bytes())
    assert library.resolve_image(str(outside)) == owl.sha256  # a copy elsewhere: found by its bytes
    with pytest.raises(InputError, match="not in this library"):
        library.resolve_image(_stranger(tmp_path))
    with pytest.raises(InputError, match="starting with"):
        library.resolve_image("00000000")
    with pytest.raises(InputError, match="neither"):
        library.resolve_image("abc")
    with pytest.raises(InputError, match="at most"):
        library.board_add("x" * 300, [fox.sha256])
    with pytest.raises(InputError, match="rating"):
        library.rate([fox.sha256], 7)


def _stranger(tmp_path: Path) -> str:
    path = tmp_path / "stranger.png"
    path.write_bytes(picture("never saved in the library", 64, 48))
    return str(path)


def test_ambiguous_prefix_is_refused(library):
    shas = []
    for n in range(40):
        _, saved = save(library, prompt=f"picture {n}", data=png(f"picture {n}", 16, 16))
        shas.append(saved.sha256)
    by_first = {}
    for sha in shas:
        by_first.setdefault(sha[0], []).append(sha)
    twins = next(group for group in by_first.values() if len(group) > 1)
    common = os.path.commonprefix(twins)
    prefix = (common + "0" * 8)[:8] if len(common) < 8 else common[:8]
    if len(common) >= 8:
        with pytest.raises(InputError, match="more than one"):
            library.resolve_image(prefix)
    else:  # the shared start is under 8 digits: the refusal is tested with the index's own lookup
        with library.index.session() as conn:
            rows = conn.execute(
                "SELECT DISTINCT sha256 FROM images WHERE sha256 >= ? AND sha256 < ?", (common, common + "g")
            ).fetchall()
        assert len(rows) >= 2


def test_near_duplicates_across_resize_and_reencode_but_not_a_different_picture(library):
    original = picture("a red fox in the snow", 640, 480)
    _, first = save(library, prompt="fox original", data=original)
    _, small = save(library, prompt="fox small", data=scaled(original, 320, 240))
    _, lossy = save(library, prompt="fox jpeg", data=as_jpeg(original, 70))
    _, other = save(library, prompt="a checkerboard", data=checkerboard())
    _, twin = save(library, prompt="the same picture again", data=original)  # other metadata, other sha256

    groups = library.duplicates()
    assert len(groups) == 1
    members = {m["sha256"] for m in groups[0]}
    assert members == {first.sha256, small.sha256, lossy.sha256, twin.sha256}
    assert other.sha256 not in members
    assert groups[0][0]["distance"] == 0 and all(m["distance"] <= 6 for m in groups[0])
    assert library.compute_hashes() == 0  # once: nothing left to hash
    exact = library.duplicates(threshold=0)  # the same pixels, whatever the metadata
    assert len(exact) == 1 and {first.sha256, twin.sha256} <= {m["sha256"] for m in exact[0]}
    assert other.sha256 not in {m["sha256"] for m in library.duplicates(threshold=16)[0]}


@pytest.mark.slow
def test_cli_board_tag_rate_history_and_duplicates(library, tmp_path):
    fox, owl, sea = three_images(library)
    library.close()
    root = str(library.root)
    code, out, _ = cli_json("board", "add", "Forest", fox.path, owl.sha256[:10], "--library", root)
    assert code == 0 and out["count"] == 2
    code, out, _ = cli_json("tag", fox.sha256, "snow", "Animal", "--library", root)
    assert code == 0 and out["tags"] == ["animal", "snow"]
    code, out, _ = cli_json("rate", sea.path, "reject", "--library", root)
    assert code == 0 and out["rating"] == "rejected"
    code, out, _ = cli_json("rate", owl.path, "3", "--library", root)
    assert out["rating"] == 3
    code, out, _ = cli_json("board", "list", "--library", root)
    assert out == [{"name": "Forest", "count": 2}]

    code, out, _ = cli_json("history", "--library", root)
    prompts = {e["prompt"]: e for e in out}
    assert "a calm sea" not in prompts
    fox_json = prompts["a red fox in the snow"]["images"][0]
    assert fox_json["rating"] == 0 and fox_json["tags"] == ["animal", "snow"] and fox_json["boards"] == ["Forest"]
    code, out, _ = cli_json("history", "--include-rejected", "--library", root)
    assert {e["prompt"] for e in out} >= {"a calm sea"}
    assert next(e for e in out if e["prompt"] == "a calm sea")["images"][0]["rating"] == "rejected"
    code, out, _ = cli_json("history", "--min-rating", "3", "--library", root)
    assert [e["prompt"] for e in out] == ["an owl at night"]
    code, out, _ = cli_json("history", "--tag", "snow", "--board", "Forest", "--library", root)
    assert [e["prompt"] for e in out] == ["a red fox in the snow"]

    code, out, _ = cli_json("duplicates", "--library", root)
    assert code == 0 and out == []

    code, out, err = atelier("rate", "00000000", "5", "--library", root)
    assert code == 2 and "starting with 00000000" in err and "Traceback" not in err
    code, out, err = atelier("rate", fox.sha256, "9", "--library", root)
    assert code == 2 and "rating" in err
    code, out, err = atelier("board", "add", "Forest", "--library", root)
    assert code == 2 and "at least one image" in err
    code, out, err = atelier("history", "--min-rating", "9", "--library", root)
    assert code == 2
    code, out, err = atelier("duplicates", "--threshold", "99", "--library", root)
    assert code == 2 and "threshold" in err

    code, out, _ = cli_json("rebuild", "--library", root)
    code, out, _ = cli_json("history", "--board", "Forest", "--library", root)
    assert {e["prompt"] for e in out} == {"a red fox in the snow", "an owl at night"}


def test_perceptual_hashes_are_kept_by_a_rebuild(library):
    fox, owl, _ = three_images(library)
    assert library.compute_hashes() == 3
    library.rebuild()
    assert library.compute_hashes() == 0


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["board_add", "board_remove", "tag_add", "tag_remove", "rate"]),
        st.lists(st.integers(0, 2), min_size=1, max_size=3),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([0, 1, 3, 5, "reject"]),
    ),
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPERATIONS)
def test_the_index_mirrors_the_journal_and_a_replay_gives_the_same(library, operations):
    if not hasattr(library, "_three"):
        library._three = [s.sha256 for s in three_images(library)]
    shas = library._three
    for table in ("ratings", "tags", "board_images", "boards"):
        library.index.write(f"DELETE FROM {table}")
    organizing.journal_path(library.meta_dir).unlink(missing_ok=True)
    library.index.write("DELETE FROM organize_state")
    model = {s: {"rating": 0, "tags": set(), "boards": set()} for s in shas}
    for op, which, word, rating in operations:
        chosen = [shas[n] for n in which]
        if op == "rate":
            library.rate(chosen, rating)
        elif op.startswith("board"):
            library.board_add(word, chosen, remove=op == "board_remove")
        else:
            library.tag(chosen, [word], remove=op == "tag_remove")
        for sha in chosen:
            if op == "rate":
                model[sha]["rating"] = "rejected" if rating == "reject" else rating
            else:
                field = model[sha]["boards" if op.startswith("board") else "tags"]
                (field.discard if op.endswith("remove") else field.add)(word)
    expected = {
        s: {"rating": m["rating"], "tags": sorted(m["tags"]), "boards": sorted(m["boards"])} for s, m in model.items()
    }
    assert library.organize_info(shas) == expected
    library.index.write("UPDATE organize_state SET value = 1e18 WHERE key = 'offset'")  # forces a full replay
    assert library.organize_info(shas) == expected


# --- boards renamed and deleted, the gallery's orders, refine threads collapsed -----------------------------------


def test_board_rename_and_delete_are_journaled_and_survive_a_rebuild_and_a_copy(library, tmp_path):
    fox, owl, sea = three_images(library)
    library.board_add("Forest", [fox.sha256, owl.sha256])
    library.board_add("Sea", [sea.sha256, fox.sha256])
    assert library.board_create("  Later  ") == "Later"  # an empty board is kept too
    assert library.board_rename("Forest", "Woods") == "Woods"
    library.board_delete("Sea")
    expected = [{"name": "Later", "count": 0}, {"name": "Woods", "count": 2}]
    assert library.boards() == expected
    assert gallery_shas(library) == {fox.sha256, owl.sha256, sea.sha256}  # deleting a board deletes no image
    assert library.organize_info([fox.sha256])[fox.sha256]["boards"] == ["Woods"]
    with pytest.raises(InputError, match="no board named Sea"):
        library.board_delete("Sea")
    with pytest.raises(InputError, match="exists already"):
        library.board_rename("Later", "Woods")
    with pytest.raises(InputError, match="no board named Nowhere"):
        library.board_rename("Nowhere", "Somewhere")

    library.rebuild()
    assert library.boards() == expected
    assert gallery_shas(library, board="Woods") == {fox.sha256, owl.sha256}
    library.close()
    copy = tmp_path / "elsewhere"
    shutil.copytree(library.root, copy)
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):  # the copy lost its index
        (copy / ".atelier" / name).unlink(missing_ok=True)
    other = Library(copy)
    try:
        other.rebuild()
        assert other.boards() == expected
        assert gallery_shas(other, board="Sea") == set()
    finally:
        other.close()


@pytest.mark.slow
def test_cli_board_rename_and_delete(library):
    fox, owl, _ = three_images(library)
    library.board_add("Forest", [fox.sha256, owl.sha256])
    library.close()
    root = str(library.root)
    code, out, _ = cli_json("board", "rename", "Forest", "Deep woods", "--library", root)
    assert code == 0 and out == {"board": "Deep woods", "renamed_from": "Forest", "count": 2}
    code, out, err = atelier("board", "rename", "Forest", "Other", "--library", root)
    assert code == 2 and "no board named Forest" in err and "Traceback" not in err
    code, out, err = atelier("board", "rename", "Deep woods", "--library", root)
    assert code == 2 and "OLD NEW" in err
    code, out, _ = cli_json("board", "delete", "Deep woods", "--library", root)
    assert code == 0 and out == {"board": "Deep woods", "deleted": True, "images_kept": 2}
    code, out, _ = cli_json("board", "list", "--library", root)
    assert out == []
    code, out, _ = cli_json("history", "--library", root)
    assert len(out) == 3  # the images stay
    code, out, err = atelier("board", "delete", "Deep woods", "--library", root)
    assert code == 2 and "no board named" in err


def test_gallery_orders_newest_oldest_and_by_rating(library):
    _, a = save(library, prompt="first", data=picture("first"), created=1000.0)
    _, b = save(library, prompt="second", data=picture("second"), created=2000.0)
    _, c = save(library, prompt="third", data=picture("third"), created=3000.0)
    library.rate([a.sha256], 4)
    library.rate([c.sha256], 2)
    order = lambda **q: [r.sha256 for r in library.gallery(HistoryQuery(**q))]  # noqa: E731
    assert order() == [c.sha256, b.sha256, a.sha256]
    assert order(oldest_first=True) == [a.sha256, b.sha256, c.sha256]
    assert order(by_rating=True) == [a.sha256, c.sha256, b.sha256]
    assert order(by_rating=True, min_rating=3) == [a.sha256]
    first = lambda n, **q: [r.sha256 for r in library.gallery(HistoryQuery(by_rating=True, **q), limit=n)]  # noqa: E731
    assert first(1) == [a.sha256] and first(3) == [a.sha256, c.sha256, b.sha256]
    library.rate([a.sha256], "reject")
    assert order(by_rating=True) == [c.sha256, b.sha256]
    assert order(by_rating=True, include_rejected=True) == [c.sha256, b.sha256, a.sha256]  # rejected last
    assert first(2, include_rejected=True) == [c.sha256, b.sha256]


def refine_turn(library, parent_gid: str, prompt: str, created: float, status: str = "ok"):
    """A refine's generation as the refine path records it: lineage to its parent and the thread's root."""
    from services.types import GenerationRequest
    from tests.test_library import received

    parent = library.generation(parent_gid)
    lineage = {
        "parent_generation_id": parent_gid,
        "parent_image_index": 0,
        "thread_id": parent.lineage_json()["thread_id"],
    }
    request = GenerationRequest(prompt, "gemini-3.1-flash-image", lineage=lineage)
    gid = library.begin(request, endpoint="test", protocol="generateContent", created_at=created)
    saved = None
    if status == "ok":
        saved = library.save_image(
            gid, 0, received(picture(prompt, 64, 48)), request=request, endpoint="test", created_at=created
        )
    library.finish(gid, status=status)
    return gid, saved


def a_thread_with_a_branch(library):
    """root -> stormier -> red coat, and root -> at night (a branch); and a lone image."""
    root, root_image = save(library, prompt="a lighthouse", data=picture("a lighthouse", 64, 48), created=100.0)
    stormy, _ = refine_turn(library, root, "make the sky stormier", 200.0)
    coat, coat_image = refine_turn(library, stormy, "now a red coat", 300.0)
    night, _ = refine_turn(library, root, "at night", 250.0)
    refine_turn(library, coat, "a refused edit", 400.0, status="blocked")  # a failed turn is no turn
    _, lone = save(library, prompt="a lone fox", data=picture("a lone fox", 64, 48), created=150.0)
    return root, stormy, coat, night, coat_image, lone


def test_threads_collapse_to_their_newest_image_with_a_turn_count(library):
    root, stormy, coat, night, coat_image, lone = a_thread_with_a_branch(library)
    everything = library.gallery(HistoryQuery(include_failed=False))
    assert len(everything) == 5
    collapsed = library.gallery(HistoryQuery(threads_collapsed=True, include_failed=False))
    assert [r.sha256 for r in collapsed] == [coat_image.sha256, lone.sha256]
    turns = library.thread_turns()
    assert turns[coat] == 4 and turns[root] == 4 and lone.generation_id not in turns
    # Under a search, a thread collapses to the newest turn the search lets in.
    found = library.gallery(HistoryQuery(threads_collapsed=True, search="stormier", include_failed=False))
    assert [r.generation_id for r in found] == [stormy]
    # The newest turn rejected: the thread shows its newest turn still shown.
    library.rate([coat_image.sha256], "reject")
    collapsed = library.gallery(HistoryQuery(threads_collapsed=True, include_failed=False))
    assert [r.generation_id for r in collapsed] == [night, lone.generation_id]
    library.rebuild()  # the lineage comes back from the files
    assert library.thread_turns()[night] == 4
    collapsed = library.gallery(HistoryQuery(threads_collapsed=True, include_failed=False))
    assert [r.generation_id for r in collapsed] == [night, lone.generation_id]


@pytest.mark.slow
def test_a_thread_refined_through_the_cli_collapses_to_its_last_turn(library):
    root_dir = str(library.root)
    library.close()
    code, root, err = cli_json("generate", "a lighthouse", "--endpoint", "demo", "--library", root_dir)
    assert code == 0, err
    code, second, err = cli_json(
        "refine", root["generation_id"], "make the sky stormier", "--endpoint", "demo", "--library", root_dir
    )
    assert code == 0 and second["thread_id"] == root["generation_id"], err
    code, third, err = cli_json(
        "refine", second["generation_id"], "now at night", "--endpoint", "demo", "--library", root_dir
    )
    assert code == 0, err
    reopened = Library(library.root).open()
    try:
        assert len(reopened.gallery(HistoryQuery())) == 3
        collapsed = reopened.gallery(HistoryQuery(threads_collapsed=True))
        assert [r.generation_id for r in collapsed] == [third["generation_id"]]
        assert reopened.thread_turns()[third["generation_id"]] == 3
    finally:
        reopened.close()


@pytest.mark.parametrize("walk", [True, False])
def test_star_filters_and_order_are_the_same_walked_or_read_from_the_ratings(library, monkeypatch, walk):
    """★N+ and the order by stars take a first screen either by walking the generations newest first with a probe
    of each image's rating (dense stars) or from the index ratings_rating (sparse ones): the same rows, in the same
    order, at every LIMIT, as the complete listing computed here from the ratings."""
    from services.library import queries

    stars = [5, 3, 0, 4, 5, -1, 1, 3, 0, 2, 5, 4, 0, 3, 5, 1]
    images = [
        save(library, prompt=f"fox {n}", data=picture(f"fox {n}", 64, 48), created=1000.0 + (n * 7) % 16)[1]
        for n in range(len(stars))
    ]
    for image, rating in zip(images, stars, strict=True):
        if rating:
            library.rate([image.sha256], "reject" if rating < 0 else rating)
    created = {r.sha256: (r.created_at, r.image_id) for r in library.gallery()}
    newest = sorted(created, key=lambda s: (-created[s][0], -created[s][1]))
    rating = {i.sha256: s for i, s in zip(images, stars, strict=True)}
    monkeypatch.setattr(queries, "dense", lambda *args: walk)
    for minimum in (None, 1, 3, 5):
        expected = [s for s in newest if rating[s] >= (minimum or 0)]  # the rejected (-1) hidden
        by_stars = sorted(expected, key=lambda s: -rating[s])  # stable: newest first within a level
        for limit in (1, 4, 7, None):
            filtered = library.gallery(HistoryQuery(min_rating=minimum), limit)
            assert [r.sha256 for r in filtered] == expected[:limit]
            ordered = library.gallery(HistoryQuery(by_rating=True, min_rating=minimum), limit)
            assert [r.sha256 for r in ordered] == by_stars[:limit]
            rows, ratings = library.gallery_with_ratings(HistoryQuery(by_rating=True, min_rating=minimum), limit)
            assert ratings == {r[4]: rating[r[4]] for r in rows if rating[r[4]]}


def test_a_level_of_stars_is_read_from_the_rating_index(library):
    """The plan of a sparse level's first screen and of the density count: the index ratings_rating, not a scan of
    every rating."""
    from services.library import queries

    _, image = save(library, prompt="a fox", data=picture("a fox", 64, 48))
    library.rate([image.sha256], 5)
    with library.index.session() as conn:
        captured: list[str] = []
        conn.set_trace_callback(captured.append)
        try:
            assert [r[4] for r in queries.gallery(conn, HistoryQuery(by_rating=True), 1500)] == [image.sha256]
        finally:
            conn.set_trace_callback(None)
        level = next(s for s in captured if s.startswith("SELECT i.id") and "stars.rating = 5" in s)
        count = next(s for s in captured if s.startswith("SELECT count(*) FROM ratings"))
        plans = [" ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)) for sql in (level, count)]
    assert all("ratings_rating" in plan for plan in plans), plans
    assert "SCAN stars" not in plans[0]


def test_a_step_6_index_migrates_to_the_rating_index_and_keeps_its_ratings(tmp_path):
    """A library rated under schema 6 opens with its ratings in star order (step 7), and a rebuild from the files
    makes the same schema as the migration."""
    import sqlite3

    from services.library import schema

    root = tmp_path / "lib"
    library = Library(root).open()
    _, image = save(library, prompt="a fox", data=picture("a fox", 64, 48))
    library.rate([image.sha256], 4)
    library.close()
    db = root / ".atelier" / "index.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP INDEX ratings_rating")
    conn.execute("PRAGMA user_version=6")
    conn.close()

    def schema_of(path):
        conn = sqlite3.connect(path)
        try:
            return sorted(
                r for r in conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            )
        finally:
            conn.close()

    library = Library(root).open()
    try:
        assert library.index.one("PRAGMA user_version")[0] == schema.SCHEMA_VERSION == 7
        assert library.ratings() == {image.sha256: 4}
        assert [r.sha256 for r in library.gallery(HistoryQuery(min_rating=4))] == [image.sha256]
        migrated = schema_of(db)
        assert ("index", "ratings_rating", "CREATE INDEX ratings_rating ON ratings(rating, sha256)") in migrated
        assert list((root / ".atelier").glob("index.v6.*.bak.sqlite3"))
        library.rebuild()
        assert schema_of(db) == migrated
        assert library.ratings() == {image.sha256: 4}
    finally:
        library.close()
