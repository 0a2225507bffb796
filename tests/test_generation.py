"""GenerationService over loopback HTTP against the emulator: both protocols, outcomes, validation, costs."""

import asyncio
import hashlib
import threading
from pathlib import Path

import pytest

from services.catalog import Catalog
from services.emulator import Emulator, Fault, google_error
from services.errors import InputError
from services.events import Finished, ImageSaved, Retrying
from services.generation import load_reference, validate
from services.status import ErrorKind
from services.types import GenerationRequest, ReferenceImage
from tests.conftest import run
from tests.helpers import (
    b64,
    bomb_png,
    custom_endpoint,
    demo_endpoint,
    ends_cancelled,
    gemini_body,
    image_part,
    png,
    requests_arrive,
    service_for,
)

CATALOG = Catalog.load()


def generate(library, server, request, endpoint=None, key=None, service_kw=None, **kw):
    service = service_for(library, **(service_kw or {}))
    events = []
    result = run(
        service.generate(
            request,
            endpoint=endpoint or demo_endpoint(server),
            key=key,
            on_event=events.append,
            **kw,
        )
    )
    return result, events


def test_gemini_n_images_are_n_parallel_requests(library, emulator):
    req = GenerationRequest("a red fox in snow", "gemini-3.1-flash-image", count=3, aspect_ratio="16:9", size="2K")
    result, events = generate(library, emulator, req, service_kw={"stream": False})
    assert result.status == "ok" and len(result.images) == 3
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert len(posts) == 3
    for r in posts:
        assert "candidateCount" not in r.body["generationConfig"]
        assert r.body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    for image in result.images:
        data = Path(image.path).read_bytes()
        assert (image.width, image.height) == (2752, 1536)  # Gemini 3.x 16:9 at 2K (gemini-api.md)
        assert hashlib.sha256(data).hexdigest() == image.sha256
    assert [type(e) for e in events].count(ImageSaved) == 3 and isinstance(events[-1], Finished)
    assert len({i.sha256 for i in result.images}) == 3  # variations, not copies


def test_imagen_one_request_with_sample_count(library, emulator):
    req = GenerationRequest("a fox", "imagen-4.0-generate-001", count=4, aspect_ratio="3:4", size="1K")
    result, _ = generate(library, emulator, req)
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert len(posts) == 1 and posts[0].body["parameters"]["sampleCount"] == 4
    assert posts[0].path.endswith(":predict")
    assert len(result.images) == 4 and (result.images[0].width, result.images[0].height) == (896, 1280)


def test_imagen_ultra_asks_one_image_per_request(library, emulator):
    result, _ = generate(library, emulator, GenerationRequest("a fox", "imagen-4.0-ultra-generate-001", count=2))
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert [p.body["parameters"]["sampleCount"] for p in posts] == [1, 1] and len(result.images) == 2


def test_reference_images_travel_inline(library, emulator, tmp_path):
    ref_path = tmp_path / "logo.png"
    ref_path.write_bytes(png("logo"))
    ref = load_reference(ref_path)
    req = GenerationRequest("put the logo on a mug", "gemini-3-pro-image", references=(ref,))
    result, _ = generate(library, emulator, req)
    parts = emulator.requests[-1].body["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": b64(ref_path.read_bytes())}}
    assert result.status == "ok"
    entry = library.generation(result.generation_id)
    assert entry.params["references"][0]["sha256"] == hashlib.sha256(ref_path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "prompt,model,status,words",
    [
        ("a cat #blocked", "gemini-3.1-flash-image", "blocked", "PROHIBITED_CONTENT"),
        ("a cat #safety", "gemini-3.1-flash-image", "blocked", "IMAGE_SAFETY"),
        ("a cat #noimage", "gemini-3.1-flash-image", "no_image", "text only"),
        ("a cat #blocked", "imagen-4.0-generate-001", "blocked", "Responsible AI"),
        ("a cat #safety", "imagen-4.0-generate-001", "blocked", "filtered"),
        ("a cat #noimage", "imagen-4.0-generate-001", "no_image", "no image"),
    ],
)
def test_each_no_image_outcome_is_recorded_with_its_reason(library, emulator, prompt, model, status, words):
    result, _ = generate(library, emulator, GenerationRequest(prompt, model))
    assert result.status == status and not result.images and words in result.reason
    entry = library.generation(result.generation_id)
    assert entry.status == status and words in entry.reason


def test_imagen_partly_filtered_keeps_the_rest_and_says_so(library, emulator):
    result, _ = generate(library, emulator, GenerationRequest("x #filtered", "imagen-4.0-generate-001", count=4))
    assert result.status == "ok" and len(result.images) == 2 and "filtered" in result.reason


def test_more_images_than_asked_keeps_the_asked_number(library, emulator):
    emulator.script(Fault(body=gemini_body(image_part(png("a")), image_part(png("b")), image_part(png("c")))))
    result, _ = generate(library, emulator, GenerationRequest("x", "gemini-3.1-flash-image", count=1))
    assert len(result.images) == 1 and "more images than asked" in result.reason


def test_bad_images_in_a_200_are_reported_not_saved(library, emulator):
    emulator.script(
        Fault(
            body=gemini_body(
                {"inlineData": {"mimeType": "image/png", "data": "%%%"}},
                {"inlineData": {"mimeType": "image/png", "data": b64(b"<html>nope</html>")}},
                {"inlineData": {"mimeType": "image/png", "data": b64(bomb_png())}},
            )
        )
    )
    result, _ = generate(library, emulator, GenerationRequest("x", "gemini-3.1-flash-image"))
    assert result.status == "no_image" and "base64" in result.reason and "megapixels" in result.reason
    assert not list(library.images_dir.rglob("*.png"))


def test_some_requests_fail_some_succeed(library, emulator):
    emulator.script(
        Fault(status=400, body=google_error(400, "INVALID_ARGUMENT", "bad"), match="gemini-3.1-flash-image:")
    )
    result, _ = generate(library, emulator, GenerationRequest("x", "gemini-3.1-flash-image", count=2))
    assert result.status == "ok" and len(result.images) == 1 and "1 of 2" in result.reason


def test_server_error_result_has_the_error_envelope(library, emulator):
    emulator.script(Fault(status=404, body=google_error(404, "NOT_FOUND", "models/x is not found")))
    result, _ = generate(library, emulator, GenerationRequest("x", "imagen-4.0-generate-001"))
    assert result.status == "error" and result.error_kind == ErrorKind.RETIRED_MODEL
    assert result.error["http_status"] == 404 and result.error["status"] == "NOT_FOUND"
    assert result.error["kind"] == "retired_model"
    assert "gemini-3.1-flash-image" in result.error["message"]  # the retired model's replacement
    assert library.generation(result.generation_id).status == "error"


def test_retrying_event_and_attempts(library, emulator):
    emulator.script(Fault(status=503, body=google_error(503, "UNAVAILABLE", "overloaded")))
    result, events = generate(library, emulator, GenerationRequest("x", "gemini-3.1-flash-image"))
    assert result.status == "ok" and result.attempts == 2
    assert any(isinstance(e, Retrying) for e in events)


def test_cost_from_usage_on_a_paid_endpoint(library, emulator):
    req = GenerationRequest("x", "gemini-3.1-flash-image", count=2, size="2K")
    result, _ = generate(library, emulator, req, endpoint=custom_endpoint(emulator), key="k-123456")
    assert result.usage.image_tokens == 2 * 1680
    assert result.cost_usd == pytest.approx(2 * 1680 * 60 / 1e6)
    demo_result, _ = generate(library, emulator, req)
    assert demo_result.cost_usd == 0.0


def test_unknown_model_works_with_a_given_protocol(library):
    from services.emulator import Emulator

    with Emulator(models=["my-proxy-image-model"]) as server:
        server.models["my-proxy-image-model"] = "generateContent"
        req = GenerationRequest("x", "my-proxy-image-model", protocol="generateContent")
        result, _ = generate(library, server, req)
        assert result.status == "ok" and result.cost_usd == 0.0


def test_512_size_spelling_falls_back(library, emulator):
    emulator.script(Fault(status=400, body=google_error(400, "INVALID_ARGUMENT", "Unsupported imageSize: 512")))
    result, _ = generate(library, emulator, GenerationRequest("x", "gemini-3.1-flash-image", size="512"))
    sizes = [r.body["generationConfig"]["imageConfig"]["imageSize"] for r in emulator.requests if r.method == "POST"]
    assert list(dict.fromkeys(sizes)) == ["512", "0.5K"] and result.status == "ok"  # streamed, then plain too


def test_cancel_records_cancelled(library, emulator):
    emulator.script(Fault(hang=True))
    service = service_for(library)

    async def go():
        task = asyncio.ensure_future(
            service.generate(
                GenerationRequest("x", "gemini-3.1-flash-image"), endpoint=demo_endpoint(emulator), key=None
            )
        )
        await requests_arrive(emulator)
        task.cancel()
        await ends_cancelled(task)

    run(go())
    [entry] = library.history()
    assert entry.status == "cancelled"


def test_missing_key_is_input_error_and_nothing_sent(library, emulator):
    service = service_for(library)
    with pytest.raises(InputError, match="No API key"):
        run(
            service.generate(
                GenerationRequest("x", "gemini-3.1-flash-image"), endpoint=custom_endpoint(emulator), key=None
            )
        )
    assert not emulator.requests and not library.history()


# --- validation: refused before sending, with a sentence that names the limit ---------------------------------


def check(request, model_id=None):
    return validate(request, CATALOG.resolve(model_id or request.model))


@pytest.mark.parametrize(
    "request_,words",
    [
        (GenerationRequest("   \n", "gemini-3.1-flash-image"), "empty"),
        (GenerationRequest("x", "gemini-3.1-flash-image", count=5), "1 to 4"),
        (GenerationRequest("x", "gemini-3.1-flash-image", count=0), "1 to 4"),
        (GenerationRequest("x", "imagen-4.0-generate-001", aspect_ratio="21:9"), "1:1, 3:4"),
        (GenerationRequest("x", "gemini-3-pro-image", size="512"), "1K, 2K, 4K"),
        (GenerationRequest("x", "gemini-2.5-flash-image", size="1K"), "no size"),
        (GenerationRequest("x", "imagen-4.0-fast-generate-001", size="2K"), "no size"),
        (GenerationRequest("x", "imagen-4.0-generate-001", seed=3), "seed"),
        (GenerationRequest("word " * 600, "imagen-4.0-generate-001"), "480"),
        (GenerationRequest("x" * 60_000, "gemini-3.1-flash-image"), "50,000"),
        (GenerationRequest("bad \udcff byte", "gemini-3.1-flash-image"), "UTF-8"),
        (GenerationRequest("x", "../../etc/passwd"), "not a model id"),
        (
            GenerationRequest("x", "imagen-4.0-generate-001", references=(ReferenceImage("a.png", "image/png", b"1"),)),
            "does not take reference",
        ),
        (
            GenerationRequest(
                "x",
                "gemini-2.5-flash-image",
                references=tuple(ReferenceImage(f"{i}.png", "image/png", b"1") for i in range(4)),
            ),
            "at most 3",
        ),
        (
            GenerationRequest(
                "x",
                "gemini-3-pro-image",
                references=tuple(ReferenceImage(f"{i}.png", "image/png", b"1") for i in range(15)),
            ),
            "at most 14",
        ),
        (
            GenerationRequest(
                "x", "gemini-3-pro-image", references=(ReferenceImage("big.png", "image/png", b"1" * 16 * 2**20),)
            ),
            "MB",
        ),
    ],
)
def test_validation_refuses_with_the_limit(request_, words):
    with pytest.raises(InputError) as info:
        check(request_)
    assert words in str(info.value)


def test_validation_normalises():
    ok = check(GenerationRequest("  a cat  ", "gemini-3.1-flash-image", size="2k", person_generation="allow_all"))
    assert ok.prompt == "a cat" and ok.size == "2K" and ok.person_generation is None


def test_reference_files_missing_huge_or_not_images(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_reference(tmp_path / "nope.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="not a PNG"):
        load_reference(tmp_path / "notes.png")
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.truncate(40 * 2**20)
    with pytest.raises(InputError, match="MB"):
        load_reference(huge)
    with pytest.raises(InputError, match="not a file"):
        load_reference(tmp_path)


def test_parallel_calls_with_extra_images_never_save_more_than_asked(library, emulator, monkeypatch):
    """#11 item 5: two calls each bringing two images both passed the count check before either had saved."""
    two = gemini_body(image_part(png("a")), image_part(png("b")))
    emulator.script(Fault(body=two), Fault(body=two))
    started = []
    lock = threading.Lock()
    both_saving = threading.Event()
    original = library.save_image

    def save_image(*args, **kwargs):
        with lock:
            started.append(args[1])
            if len(started) >= 2:
                both_saving.set()
        both_saving.wait(10)  # the first two saves overlap, as when two answers arrive together
        return original(*args, **kwargs)

    monkeypatch.setattr(library, "save_image", save_image)
    req = GenerationRequest("x", "gemini-3.1-flash-image", count=2)
    result, events = generate(library, emulator, req, service_kw={"stream": False})
    assert len(started) == 2 and len(result.images) == 2
    assert len([e for e in events if isinstance(e, ImageSaved)]) == 2
    assert len(list(library.images_dir.rglob("*.png"))) == 2 and "more images than asked" in result.reason


def test_lowering_max_parallel_holds_for_new_calls_while_running_ones_keep_their_slots(library):
    """#11 item 8: a swapped Semaphore let the calls holding the old one and the new one's add up."""
    service = service_for(library, max_parallel=4)

    async def go():
        release_first = asyncio.Event()
        release_rest = asyncio.Event()
        inside = []
        peak = 0

        async def call(name, release):
            nonlocal peak
            async with service._slots:
                inside.append(name)
                peak = max(peak, len(inside))
                await release.wait()
                inside.remove(name)

        first = [asyncio.ensure_future(call(f"old{i}", release_first)) for i in range(4)]
        await asyncio.sleep(0.05)
        assert len(inside) == 4
        service.set_max_parallel(2)
        later = [asyncio.ensure_future(call(f"new{i}", release_rest)) for i in range(4)]
        await asyncio.sleep(0.05)
        assert sorted(inside) == ["old0", "old1", "old2", "old3"]  # the running calls keep their slots
        peak = 0
        release_first.set()
        await asyncio.wait_for(asyncio.gather(*first), 5)
        await asyncio.sleep(0.05)
        assert len(inside) == 2  # the new limit holds for the calls that start after the change
        service.set_max_parallel(3)
        await asyncio.sleep(0.05)
        assert len(inside) == 3  # a higher limit lets a waiting call in at once
        release_rest.set()
        await asyncio.wait_for(asyncio.gather(*later), 5)
        return peak

    assert run(go()) == 3


def test_a_cancelled_waiter_gives_its_slot_back():
    from services.parallel import ParallelLimit

    async def go():
        limit = ParallelLimit(1)
        hold = asyncio.Event()

        async def holder():
            async with limit:
                await hold.wait()

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(holder())
        await asyncio.sleep(0.01)
        waiting.cancel()
        hold.set()
        await asyncio.wait_for(first, 5)
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with limit:
            return limit.active

    assert run(go()) == 1


def test_the_demo_keeps_its_signing_secret_across_restarts(isolated_home):
    """A conversation made on the demo today can be refined after a restart: the next demo server accepts the
    signatures the previous one gave (a fresh random secret would refuse them, as Google refuses a forged one)."""
    from services.app import Services

    part = {"text": "Here is your lighthouse."}
    first = Services.create()
    signed = first.demo_server().signer.sign(part)
    first.shutdown()
    second = Services.create()
    try:
        assert second.demo_server().signer.verify(part, signed["thoughtSignature"])
    finally:
        second.shutdown()
    stranger = Emulator()
    assert not stranger.signer.verify(part, signed["thoughtSignature"])
