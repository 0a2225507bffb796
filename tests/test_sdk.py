"""Google's own SDK (google-genai, pinned in pyproject) pointed at the emulator as a new user would point it.

When the SDK and the emulator disagree, the emulator is wrong. Expected numbers are copied from gemini-api.md
here, not imported from the emulator, so the two are checked against each other.
"""

import base64
import json
import struct

import httpx
import pytest
from google import genai
from google.genai import errors, types

from services.catalog import Catalog
from services.emulator import Emulator, Fault, google_error
from tests.helpers import png

pytestmark = pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")

# gemini-api.md: "Gemini 3.x output sizes at 1K ... 2K and 4K double and quadruple each side".
GEMINI3_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
# gemini-api.md: image tokens per output image, and the prices per image they bill as.
PRICES = {
    ("gemini-3.1-flash-image", "512"): (747, 0.045),
    ("gemini-3.1-flash-image", "1K"): (1120, 0.067),
    ("gemini-3.1-flash-image", "2K"): (1680, 0.101),
    ("gemini-3-pro-image", "1K"): (1120, 0.134),
    ("gemini-3-pro-image", "2K"): (1120, 0.134),
}
PRICES_4K = {("gemini-3.1-flash-image", "4K"): (2520, 0.151), ("gemini-3-pro-image", "4K"): (2000, 0.24)}
FLASH = "gemini-3.1-flash-image"
PRO = "gemini-3-pro-image"
IMAGE_CONFIG = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])


_open_clients: list[genai.Client] = []


def sdk(server, version=None, **options) -> genai.Client:
    """A client as the SDK's documentation makes one; version None: the SDK's default (v1 in 3.x).

    Kept until the test ends: a Client that is garbage collected closes its HTTP connection under its own calls.
    """
    client = genai.Client(
        api_key="test-key-123",
        http_options=types.HttpOptions(base_url=server.url, api_version=version, **options),
    )
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def close_clients():
    yield
    while _open_clients:
        _open_clients.pop().close()


@pytest.fixture(params=[None, "v1beta"], ids=["default-version", "v1beta"])
def client(request, emulator):
    return sdk(emulator, request.param)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def final_image(response) -> bytes:
    parts = [p for p in response.candidates[0].content.parts if p.inline_data and not p.thought]
    assert len(parts) == 1
    return parts[0].inline_data.data


def image_config(ratio=None, size=None, **kw) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"], image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size), **kw
    )


def thumbnail(data: bytes, edge: int = 24) -> list[int]:
    """Grey levels of a small copy, to tell pictures apart."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    image = QImage.fromData(data).scaled(edge, edge, Qt.AspectRatioMode.IgnoreAspectRatio)
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    return [image.pixelColor(x, y).value() for y in range(edge) for x in range(edge)]


def distance(a: bytes, b: bytes) -> float:
    ta, tb = thumbnail(a), thumbnail(b)
    return sum(abs(x - y) for x, y in zip(ta, tb, strict=True)) / len(ta)


# --- generate -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", list(GEMINI3_1K))
def test_each_ratio_of_a_3x_model_has_googles_pixel_size(emulator, ratio):
    response = sdk(emulator).models.generate_content(model=FLASH, contents="a fox", config=image_config(ratio, "1K"))
    assert png_size(final_image(response)) == GEMINI3_1K[ratio]
    assert emulator.requests[-1].path == f"/v1/models/{FLASH}:generateContent"


@pytest.mark.parametrize("ratio,size,scale", [("16:9", "2K", 2), ("2:3", "2K", 2), ("1:1", "512", 0.5)])
def test_sizes_scale_googles_1k_table(client, ratio, size, scale):
    response = client.models.generate_content(model=FLASH, contents="a fox", config=image_config(ratio, size))
    width, height = GEMINI3_1K[ratio]
    assert png_size(final_image(response)) == (int(width * scale), int(height * scale))


@pytest.mark.parametrize("ratio", ["1:4", "4:1", "1:8", "8:1"])
def test_the_31_flash_extra_ratios(emulator, ratio):
    response = sdk(emulator).models.generate_content(model=FLASH, contents="a fox", config=image_config(ratio, "1K"))
    width, height = png_size(final_image(response))
    a, b = (int(x) for x in ratio.split(":"))
    assert abs(width / height - a / b) < 0.02 and 0.9e6 < width * height < 1.3e6
    with pytest.raises(errors.ClientError) as refused:  # 3 Pro Image has only the ten common ratios
        sdk(emulator).models.generate_content(model=PRO, contents="a fox", config=image_config(ratio))
    assert refused.value.code == 400 and ratio in refused.value.message


def test_nano_banana_21_refuses_512_and_2_5_takes_no_size(client):
    with pytest.raises(errors.ClientError) as refused:
        client.models.generate_content(model="gemini-nano-banana-2.1", contents="x", config=image_config(size="512"))
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    response = client.models.generate_content(model="gemini-2.5-flash-image", contents="x", config=image_config("16:9"))
    assert png_size(final_image(response)) == (1344, 768)


def test_a_reference_without_ratio_gives_the_references_shape(client):
    wide = png("a wide logo", 320, 180)
    reference = types.Part.from_bytes(data=wide, mime_type="image/png")
    response = client.models.generate_content(model=PRO, contents=["put this on a mug", reference], config=IMAGE_CONFIG)
    assert png_size(final_image(response)) == GEMINI3_1K["16:9"]
    response = client.models.generate_content(
        model=PRO, contents=["put this on a mug", reference], config=image_config("3:4")
    )
    assert png_size(final_image(response)) == GEMINI3_1K["3:4"]
    assert response.usage_metadata.prompt_token_count >= 560  # an input image counts about 560 tokens


def test_signature_on_the_final_image_and_usage_adds_up(client):
    response = client.models.generate_content(model=FLASH, contents="a lighthouse", config=image_config(size="2K"))
    parts = response.candidates[0].content.parts
    assert parts[-1].inline_data and parts[-1].thought_signature  # the last part is the image, signed
    assert response.candidates[0].finish_reason == types.FinishReason.STOP and response.response_id
    usage = response.usage_metadata
    assert usage.thoughts_token_count > 0  # a 3.x model thinks
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )
    images = [d.token_count for d in usage.candidates_tokens_details if d.modality == types.MediaModality.IMAGE]
    assert images == [1680]


@pytest.mark.parametrize("model,size", list(PRICES))
def test_cost_from_usage_matches_the_price_per_image(emulator, model, size):
    tokens, price = PRICES[(model, size)]
    response = sdk(emulator).models.generate_content(model=model, contents="a fox", config=image_config(size=size))
    images = [d for d in response.usage_metadata.candidates_tokens_details if d.modality == types.MediaModality.IMAGE]
    assert images[0].token_count == tokens
    rate = Catalog.load().get(model).usd_per_million_image_tokens
    assert images[0].token_count * rate / 1e6 == pytest.approx(price, abs=0.0006)


@pytest.mark.slow
@pytest.mark.parametrize("model,size", list(PRICES_4K))
def test_4k_cost_and_size(emulator, model, size):
    tokens, price = PRICES_4K[(model, size)]
    response = sdk(emulator).models.generate_content(model=model, contents="x", config=image_config("16:9", size))
    assert png_size(final_image(response)) == (1376 * 4, 768 * 4)
    images = [d for d in response.usage_metadata.candidates_tokens_details if d.modality == types.MediaModality.IMAGE]
    assert images[0].token_count == tokens
    assert tokens * Catalog.load().get(model).usd_per_million_image_tokens / 1e6 == pytest.approx(price, abs=0.0006)


@pytest.mark.parametrize(
    "prompt,check",
    [
        ("a cat #blocked", lambda r: r.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT),
        ("a cat #safety", lambda r: r.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY),
        ("a cat #noimage", lambda r: r.text and not any(p.inline_data for p in r.candidates[0].content.parts)),
    ],
)
def test_no_image_answers_have_consistent_usage_and_an_id(client, prompt, check):
    response = client.models.generate_content(model=FLASH, contents=prompt, config=IMAGE_CONFIG)
    assert check(response) and response.response_id and response.model_version == FLASH
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0
    assert usage.total_token_count == (
        usage.prompt_token_count + (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    )


# --- stream -------------------------------------------------------------------------------------------------


def test_stream_with_thoughts_sends_drafts_then_the_signed_image(client):
    config = image_config(thinking_config=types.ThinkingConfig(include_thoughts=True))
    events = list(client.models.generate_content_stream(model=PRO, contents="a castle at dusk", config=config))
    parts = [p for e in events for p in e.candidates[0].content.parts]
    assert parts[0].thought and parts[0].text  # a thought summary first
    drafts = [p for p in parts if p.thought and p.inline_data]
    assert len(drafts) == 2  # 3 Pro Image: up to two interim images
    assert not parts[-1].thought and parts[-1].inline_data and parts[-1].thought_signature
    assert all(e.usage_metadata is None for e in events[:-1]) and events[-1].usage_metadata.total_token_count
    assert len({e.response_id for e in events}) == 1
    assert events[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert png_size(parts[-1].inline_data.data) == (1024, 1024)


def test_stream_is_server_sent_events_of_whole_responses(emulator):
    url = f"{emulator.url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": "a boat"}]}]}
    response = httpx.post(url, json=body, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
    chunks = response.text.split("\n\n")
    assert chunks[-1] == "" and all(c.startswith("data: ") for c in chunks[:-1])
    events = [json.loads(c.removeprefix("data: ")) for c in chunks[:-1]]
    assert all("candidates" in e and "modelVersion" in e for e in events)
    assert "usageMetadata" in events[-1] and "inlineData" in events[-1]["candidates"][0]["content"]["parts"][-1]


def test_a_slow_prompt_streams_its_thoughts_over_the_wait(client, monkeypatch):
    from services.emulator import gemini

    monkeypatch.setattr(gemini, "SLOW_SECONDS", 0.3)  # 20 s in the demo
    events = list(client.models.generate_content_stream(model=FLASH, contents="a fox #slow", config=IMAGE_CONFIG))
    parts = [p for e in events for p in e.candidates[0].content.parts]
    assert parts[0].thought and sum(1 for p in parts if p.thought and p.inline_data) == 1
    assert parts[-1].inline_data and not parts[-1].thought


def test_an_emulated_proxy_that_does_not_stream_answers_404():
    with Emulator(streaming=False) as proxy:
        with pytest.raises(errors.ClientError) as missing:
            list(sdk(proxy).models.generate_content_stream(model=FLASH, contents="x"))
        assert missing.value.code == 404 and sdk(proxy).models.generate_content(model=FLASH, contents="x").candidates


def test_non_stream_keeps_thoughts_private_unless_asked(client):
    plain = client.models.generate_content(model=PRO, contents="a robot", config=IMAGE_CONFIG)
    assert not any(p.thought for p in plain.candidates[0].content.parts)
    config = image_config(thinking_config=types.ThinkingConfig(include_thoughts=True))
    thinking = client.models.generate_content(model=PRO, contents="a robot", config=config)
    assert sum(1 for p in thinking.candidates[0].content.parts if p.thought) == 3  # summary + two drafts


# --- models and tokens --------------------------------------------------------------------------------------


def test_list_and_get_models(client, emulator):
    listed = {m.name.removeprefix("models/"): m for m in client.models.list(config={"page_size": 3})}
    assert set(listed) == set(emulator.models) and "gemini-nano-banana-2.1" in listed
    assert "countTokens" in listed[FLASH].supported_actions and listed["imagen-4.0-generate-001"].supported_actions == [
        "predict"
    ]
    model = client.models.get(model=PRO)
    assert model.name == f"models/{PRO}" and model.display_name.startswith("Nano Banana Pro")
    with pytest.raises(errors.ClientError) as missing:
        client.models.get(model="gemini-3-pro-image-preview")  # shut down 2026-06-25
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"


def test_count_tokens_matches_what_generate_bills(client):
    contents = ["put this logo on a mug, please", types.Part.from_bytes(data=png("logo"), mime_type="image/png")]
    counted = client.models.count_tokens(model=FLASH, contents=contents)
    response = client.models.generate_content(model=FLASH, contents=contents, config=IMAGE_CONFIG)
    assert counted.total_tokens == response.usage_metadata.prompt_token_count > 560
    with pytest.raises(errors.ClientError) as refused:
        client.models.count_tokens(model="imagen-4.0-generate-001", contents="x")
    assert refused.value.code == 404


# --- conversations ------------------------------------------------------------------------------------------


def test_three_turn_chat_edits_the_previous_picture(client, emulator):
    chat = client.chats.create(model=FLASH, config=image_config("16:9", seed=5))
    first = final_image(chat.send_message("a red fox in snow"))
    second_response = chat.send_message("make it night with a blue bird")
    second = final_image(second_response)
    third = final_image(chat.send_message("add a lighthouse"))
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert [len(r.body["contents"]) for r in posts] == [1, 3, 5]
    for earlier in posts[2].body["contents"][1::2]:  # the model's turns came back signed
        assert all("thoughtSignature" in part for part in earlier["parts"])
    assert "make it night" in second_response.text and "red fox" not in second_response.text
    fresh = sdk(emulator, "v1beta").models.generate_content(
        model=FLASH, contents="make it night with a blue bird", config=image_config("16:9", seed=5)
    )
    assert distance(second, first) < distance(final_image(fresh), first) / 2  # an edit, not a new picture
    assert distance(third, second) < distance(third, first) * 1.5
    assert png_size(third) == GEMINI3_1K["16:9"]
    assert posts[2].body["contents"][4]["parts"][0]["text"] == "add a lighthouse"


def history_after_one_turn(client):
    chat = client.chats.create(model=FLASH, config=IMAGE_CONFIG)
    chat.send_message("a red fox")
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in chat.get_history()]


def send(client, history):
    contents = [*history, {"role": "user", "parts": [{"text": "now at night"}]}]
    return client.models.generate_content(model=FLASH, contents=contents, config=IMAGE_CONFIG)


@pytest.mark.parametrize(
    "tamper,message",
    [
        (
            lambda m: m["parts"][1].pop("thoughtSignature"),
            "Image part is missing a thought_signature in content position 2, part position 2.",
        ),  # fmt: skip
        (
            lambda m: m["parts"][0].pop("thoughtSignature"),
            "Text part is missing a thought_signature in content position 2, part position 1.",
        ),  # fmt: skip
        (
            lambda m: m["parts"][1].update(thoughtSignature=base64.b64encode(b"\x01" + b"x" * 32).decode()),
            "Corrupted thought signature.",
        ),  # fmt: skip
        (lambda m: m["parts"][0].update(text="Here is something else"), "Corrupted thought signature."),
        (
            lambda m: m["parts"][1]["inlineData"].update(data=base64.b64encode(png("other")).decode()),
            "Corrupted thought signature.",
        ),  # fmt: skip
    ],
    ids=["image-unsigned", "text-unsigned", "forged", "text-changed", "image-changed"],
)
def test_a_model_turn_that_lost_or_changed_its_signature_is_refused(client, tamper, message):
    history = history_after_one_turn(client)
    assert send(client, history).candidates  # unchanged, it is accepted
    tamper(history[1])
    with pytest.raises(errors.ClientError) as refused:
        send(client, history)
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    assert refused.value.message == message


def test_another_emulators_signature_is_refused(emulator):
    history = history_after_one_turn(sdk(emulator))
    with Emulator() as other, pytest.raises(errors.ClientError) as refused:
        send(sdk(other), history)
    assert refused.value.message == "Corrupted thought signature."


# --- errors -------------------------------------------------------------------------------------------------


def test_error_classes(client, emulator):
    with pytest.raises(errors.ClientError) as bad:
        client.models.generate_content(model=FLASH, contents="x", config=types.GenerateContentConfig(candidate_count=2))
    assert bad.value.code == 400
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="gemini-9-imaginary", contents="x")
    assert missing.value.code == 404 and "gemini-9-imaginary" in missing.value.message
    emulator.script(Fault(status=429, body=google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted")))
    with pytest.raises(errors.ClientError) as limited:
        client.models.generate_content(model=FLASH, contents="x")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    emulator.script(Fault(status=503, body=google_error(503, "UNAVAILABLE", "The model is overloaded.")))
    with pytest.raises(errors.ServerError) as overloaded:
        client.models.generate_content(model=FLASH, contents="x")
    assert overloaded.value.code == 503


def test_the_sdk_retries_a_503_when_told_to(emulator):
    emulator.script(Fault(status=503, body=google_error(503, "UNAVAILABLE", "The model is overloaded.")))
    retrying = sdk(emulator, retry_options=types.HttpRetryOptions(attempts=2, initial_delay=0.01, jitter=0))
    assert retrying.models.generate_content(model=FLASH, contents="x").candidates
    assert len(emulator.requests) == 2


def test_a_wrong_key_is_api_key_invalid():
    with Emulator(require_key="right-key") as server, pytest.raises(errors.ClientError) as refused:
        sdk(server).models.generate_content(model=FLASH, contents="x")
    assert refused.value.code == 400 and refused.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


# --- Imagen -------------------------------------------------------------------------------------------------


def test_sdk_3_no_longer_calls_imagen_on_the_gemini_api(client):
    with pytest.raises(ValueError, match="only supported in Gemini Enterprise Agent Platform"):
        client.models.generate_images(model="imagen-4.0-generate-001", prompt="a fox")


def predict(server, prompt, **parameters):
    body = {"instances": [{"prompt": prompt}], "parameters": parameters}
    return httpx.post(f"{server.url}/v1beta/models/imagen-4.0-generate-001:predict", json=body, timeout=60)


def test_imagen_output_options_and_safety_attributes(emulator):
    answer = predict(emulator, "a fox", sampleCount=2, outputOptions={"mimeType": "image/jpeg"},
                     includeSafetyAttributes=True).json()  # fmt: skip
    images = [p for p in answer["predictions"] if "bytesBase64Encoded" in p]
    assert len(images) == 2 and all(p["mimeType"] == "image/jpeg" for p in images)
    assert base64.b64decode(images[0]["bytesBase64Encoded"])[:3] == b"\xff\xd8\xff"
    assert all("safetyAttributes" in p for p in images)
    [positive] = [p for p in answer["predictions"] if p.get("contentType") == "Positive Prompt"]
    assert "bytesBase64Encoded" not in positive and positive["safetyAttributes"]["categories"]


def test_imagen_filter_reasons_only_when_asked_and_honest_about_how_many(emulator):
    without = predict(emulator, "x #filtered", sampleCount=4).json()["predictions"]
    assert len(without) == 2 and all("bytesBase64Encoded" in p for p in without)
    some = predict(emulator, "x #filtered", sampleCount=4, includeRaiReason=True).json()["predictions"]
    reasons = [p["raiFilteredReason"] for p in some if "raiFilteredReason" in p]
    assert len(reasons) == 2 and not any("All images" in r for r in reasons)
    every = predict(emulator, "x #safety", sampleCount=2, includeRaiReason=True).json()["predictions"]
    assert all("All images were filtered" in p["raiFilteredReason"] for p in every)
    assert predict(emulator, "x #safety", sampleCount=2).json() == {}
