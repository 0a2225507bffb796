"""The compare view's differences, as pure functions (no Qt)."""

from hypothesis import given
from hypothesis import strategies as st

from services.compare_text import settings_diff, word_diff


def test_word_diff_marks_changed_words_only():
    parts = word_diff("a red fox in the snow, at dawn", "a grey fox in deep snow, at dawn")
    assert ("removed", "red") in parts and ("added", "grey") in parts
    assert ("added", "deep") in parts and ("removed", "the") in parts
    assert [kind for kind, text in parts if "fox" in text] == ["same"]


def test_word_diff_of_equal_and_empty_prompts():
    assert word_diff("same words", "same words") == [("same", "same words")]
    assert word_diff("", "new") == [("added", "new")]
    assert word_diff("old", "") == [("removed", "old")]


@given(st.text(max_size=60), st.text(max_size=60))
def test_word_diff_gives_back_both_texts(before, after):
    parts = word_diff(before, after)
    assert "".join(t for k, t in parts if k != "added") == before
    assert "".join(t for k, t in parts if k != "removed") == after


def test_settings_diff_lists_usual_settings_first_and_flags_differences():
    rows = settings_diff(
        [
            {"prompt": "x", "model": "m1", "seed": 1, "aspect_ratio": "1:1", "extra": {"b": 1}},
            {"prompt": "y", "model": "m1", "seed": 2, "aspect_ratio": "1:1"},
        ]
    )
    assert [r[0] for r in rows] == ["model", "aspect_ratio", "seed", "extra"]
    assert dict((r[0], r[2]) for r in rows) == {"model": False, "aspect_ratio": False, "seed": True, "extra": True}
    assert rows[3][1] == ['{"b": 1}', "—"]


def test_an_imported_image_s_tool_parameters_are_settings_of_their_own():
    a1111 = {"source": "a1111", "model": "sdxl", "seed": 1, "steps": 20, "cfg": 7.0, "file": "a.png",
             "parameters": {"Steps": "20", "Sampler": "Euler a", "Seed": "1", "Hires upscale": "2", "Model": "sdxl"}}  # fmt: skip
    other = {**a1111, "seed": 2, "parameters": {**a1111["parameters"], "Seed": "2", "Hires upscale": "1.5"}}
    rows = {key: (values, differs) for key, values, differs in settings_diff([a1111, other])}
    assert rows["Hires upscale"] == (["2", "1.5"], True) and rows["seed"] == (["1", "2"], True)
    assert "parameters" not in rows and "Seed" not in rows and "Steps" not in rows and "file" not in rows
    assert rows["Sampler"] == (["Euler a", "Euler a"], False)  # no Atelier name for it: the tool's own
