"""json_lifting.loads gives what json.loads gives, the long values of image keys as memoryviews, while cutting
those values out of json.loads's reach."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import json_lifting

LONG = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=40, max_size=90)
TEXT = st.one_of(st.text(max_size=20), st.text(alphabet='ab\\"\n\u00e9\u2603\U0001f98a', max_size=60), LONG)
KEYS = st.one_of(TEXT, st.sampled_from(["data", "bytesBase64Encoded", "mimeType"]))
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def small_limit():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_lifting, "LIFT_FROM", 40)  # hypothesis's strings are short: lift from 40
        yield


def as_text(value):
    return json.loads(json.dumps(value, default=lambda v: bytes(v).decode("utf-8")))


@given(value=VALUES, ensure_ascii=st.booleans(), spaced=st.booleans())
def test_any_json_reads_as_json_loads_reads_it(small_limit, value, ensure_ascii, spaced):
    raw = json.dumps(value, ensure_ascii=ensure_ascii, indent=1 if spaced else None).encode("utf-8")
    assert as_text(json_lifting.loads(raw)) == json.loads(raw)


@given(raw=st.binary(max_size=200) | st.text(alphabet='{}[]":,\\ab0', max_size=80).map(str.encode))
def test_what_is_not_json_fails_as_json_loads_fails(small_limit, raw):
    try:
        expected = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            json_lifting.loads(raw)
    else:
        assert as_text(json_lifting.loads(raw)) == expected


def test_an_image_body_reaches_json_loads_without_its_images(monkeypatch):
    """The real shape, at the real limit: four 2K images' base64 reach json.loads only as placeholders."""
    image = "iVBORw0KGgo" + "A" * 3_000_000
    body = {"predictions": [{"bytesBase64Encoded": image, "mimeType": "image/png"} for _ in range(4)]}
    raw = json.dumps(body).encode()
    seen: list[int] = []
    real = json.loads
    monkeypatch.setattr(json_lifting.json, "loads", lambda data: (seen.append(len(data)), real(data))[1])
    read = json_lifting.loads(raw)
    assert seen and max(seen) < 1000  # what json.loads was given: the body without its images
    assert [bytes(p["bytesBase64Encoded"]) for p in read["predictions"]] == [image.encode()] * 4
    assert as_text(read) == body
