"""Reading both protocols' bodies and Google's error envelope, camelCase and snake_case alike."""

import pytest

from services import api_errors, protocol
from services.catalog import Catalog
from services.emulator import to_snake
from services.errors import ApiError
from services.status import ErrorKind
from services.types import GenerationRequest, ReferenceImage
from tests.helpers import b64, bomb_png, gemini_body, image_part, jpeg, png

CATALOG = Catalog.load()


def test_predict_body_uses_wire_names():
    model = CATALOG.get("imagen-4.0-generate-001")
    req = GenerationRequest("a fox", model.id, count=3, aspect_ratio="16:9", size="2K", person_generation="dont_allow")
    body = protocol.predict_body(req, model, 3)
    assert body["instances"] == [{"prompt": "a fox"}]
    params = body["parameters"]
    assert params["sampleCount"] == 3
    assert params["sampleImageSize"] == "2K" and "imageSize" not in params
    assert params["aspectRatio"] == "16:9" and params["personGeneration"] == "dont_allow"
    assert not {"seed", "negativePrompt", "enhancePrompt", "addWatermark"} & set(params)


def test_predict_body_leaves_size_out_for_fast():
    model = CATALOG.get("imagen-4.0-fast-generate-001")
    body = protocol.predict_body(GenerationRequest("x", model.id, size="1K"), model, 1)
    assert "sampleImageSize" not in body["parameters"]


def test_generate_content_body_with_references_and_image_config():
    model = CATALOG.get("gemini-3-pro-image")
    ref = ReferenceImage("/tmp/logo.png", "image/png", png())
    req = GenerationRequest("put the logo on a mug", model.id, aspect_ratio="4:5", size="2K", references=(ref,), seed=7)
    body = protocol.generate_content_body(req, model)
    parts = body["contents"][0]["parts"]
    assert body["contents"][0]["role"] == "user"
    assert parts[0] == {"text": "put the logo on a mug"}
    assert parts[1]["inlineData"] == {"mimeType": "image/png", "data": b64(ref.data)}
    config = body["generationConfig"]
    assert "IMAGE" in config["responseModalities"]
    assert config["imageConfig"] == {"aspectRatio": "4:5", "imageSize": "2K"}
    assert config["seed"] == 7
    assert "candidateCount" not in config


def test_generate_content_body_has_no_size_for_25():
    model = CATALOG.get("gemini-2.5-flash-image")
    body = protocol.generate_content_body(GenerationRequest("x", model.id, aspect_ratio="1:1", size="1K"), model)
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}


@pytest.mark.parametrize("snake", [False, True])
def test_gemini_images_text_usage_and_thoughts_skipped(snake):
    draft, final = png("draft", 8, 8), png("final", 32, 16)
    body = gemini_body(
        {"text": "thinking", "thought": True},
        {**image_part(draft), "thought": True},
        {"text": "Here is your mug.", "thoughtSignature": "abc"},
        image_part(final),
        usage={
            "promptTokenCount": 9,
            "candidatesTokenCount": 1298,
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
        },
    )
    parsed = protocol.parse_generate_content(to_snake(body) if snake else body)
    assert [i.data for i in parsed.images] == [final]
    assert (parsed.images[0].width, parsed.images[0].height) == (32, 16)
    assert parsed.text == "Here is your mug."
    assert parsed.usage.image_tokens == 1290 and parsed.usage.prompt_tokens == 9
    assert parsed.blocked_reason is None and parsed.no_image_reason is None


def test_gemini_prompt_blocked_without_candidates():
    parsed = protocol.parse_generate_content({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert not parsed.images
    assert "PROHIBITED_CONTENT" in parsed.blocked_reason


@pytest.mark.parametrize(
    "finish",
    [
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "RECITATION",
        "IMAGE_RECITATION",
        "BLOCKLIST",
        "SPII",
    ],
)
def test_gemini_safety_finish_reasons_are_blocked(finish):
    body = gemini_body(finish=finish)
    body["candidates"][0]["finishMessage"] = "flagged"
    parsed = protocol.parse_generate_content(body)
    assert finish in parsed.blocked_reason and "flagged" in parsed.blocked_reason


@pytest.mark.parametrize("finish", ["NO_IMAGE", "IMAGE_OTHER", "OTHER", "MAX_TOKENS"])
def test_gemini_other_finish_reasons_are_no_image(finish):
    parsed = protocol.parse_generate_content(gemini_body({"text": "sorry"}, finish=finish))
    assert finish in parsed.no_image_reason and parsed.text == "sorry" and parsed.blocked_reason is None


def test_gemini_text_only_stop_is_no_image_with_text():
    parsed = protocol.parse_generate_content(gemini_body({"text": "I would rather describe it."}))
    assert parsed.no_image_reason and parsed.text == "I would rather describe it."


def test_invalid_base64_not_image_and_bomb_are_dropped_with_reasons():
    body = gemini_body(
        {"inlineData": {"mimeType": "image/png", "data": "!!!not base64!!!"}},
        {"inlineData": {"mimeType": "image/png", "data": b64(b"hello, I am text")}},
        {"inlineData": {"mimeType": "image/png", "data": b64(bomb_png())}},
    )
    parsed = protocol.parse_generate_content(body)
    assert not parsed.images
    joined = " ".join(parsed.dropped)
    assert "base64" in joined and "not an image" in joined and "megapixels" in joined
    assert "could not be used" in parsed.no_image_reason


def test_base64_wrapped_url_safe_or_long_decodes_to_the_same_bytes(monkeypatch):
    import base64

    monkeypatch.setattr(protocol, "B64_SLICE", 16)  # many slices, as a 7 MB image has
    data = png("slices", 97, 61)
    text = b64(data)
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    url_safe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    for variant in (text, wrapped, url_safe):
        (image,) = protocol.parse_generate_content(gemini_body(image_part_text(variant))).images
        assert image.data == data
    assert protocol.parse_generate_content(gemini_body(image_part_text(text[:-3] + "*=="))).images == []


def image_part_text(text: str) -> dict:
    return {"inlineData": {"mimeType": "image/png", "data": text}}


def test_declared_mime_that_lies_is_corrected():
    parsed = protocol.parse_generate_content(gemini_body(image_part(jpeg(), mime="image/png")))
    assert parsed.images[0].mime_type == "image/jpeg" and parsed.images[0].declared_mime_type == "image/png"


@pytest.mark.parametrize("snake", [False, True])
def test_imagen_partial_filter_and_safety_attributes(snake):
    body = {
        "predictions": [
            {"mimeType": "image/png", "bytesBase64Encoded": b64(png("a"))},
            {"raiFilteredReason": "Filtered. Support codes: 123"},
            {"safetyAttributes": {"categories": []}, "contentType": "Positive Prompt"},
        ]
    }
    parsed = protocol.parse_predict(to_snake(body) if snake else body)
    assert len(parsed.images) == 1
    assert parsed.filtered_notes == ["Filtered. Support codes: 123"]
    assert parsed.blocked_reason is None


def test_imagen_all_filtered_and_empty_body():
    parsed = protocol.parse_predict({"predictions": [{"raiFilteredReason": "All filtered."}]})
    assert "All filtered." in parsed.blocked_reason
    empty = protocol.parse_predict({})
    assert not empty.images and "no image" in empty.no_image_reason


def envelope(code, status, message, *details):
    import json

    return json.dumps(
        {"error": {"code": code, "status": status, "message": message, "details": list(details)}}
    ).encode()


def test_error_classes():
    e = protocol.error_from_response(
        400,
        envelope(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
        ),
        "application/json",
        None,
    )
    assert e.kind == "auth" and not e.retryable and "Settings" in e.message
    e = protocol.error_from_response(
        429,
        envelope(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded.",
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38.804097346s"},
        ),
        "",
        None,
    )
    assert e.kind == "rate_limit" and e.retryable and e.retry_after == pytest.approx(38.804097346)
    e = protocol.error_from_response(
        429, envelope(429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: x, limit: 0"), "", None
    )
    assert e.kind == "quota" and not e.retryable
    e = protocol.error_from_response(
        429, envelope(429, "RESOURCE_EXHAUSTED", "Your prepayment credits are depleted."), "", None
    )
    assert e.kind == "quota" and not e.retryable
    e = protocol.error_from_response(
        404,
        envelope(404, "NOT_FOUND", "models/imagen-4.0-generate-001 is not found"),
        "",
        None,
        "imagen-4.0-generate-001",
        "gemini-3.1-flash-image",
    )
    assert e.kind == ErrorKind.NOT_FOUND and "gemini-3.1-flash-image" in e.message and not e.retryable
    e = protocol.error_from_response(503, envelope(503, "UNAVAILABLE", "The model is overloaded."), "", "7")
    assert e.kind == "overloaded" and e.retryable and e.retry_after == 7
    for code in (408, 500, 502, 504):
        assert protocol.error_from_response(code, b"{}", "", None).retryable
    for code in (400, 401, 403, 404):
        assert not protocol.error_from_response(code, envelope(code, "X", "no"), "", None).retryable


def test_proxy_html_and_text_errors_read_plainly():
    html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    e = protocol.error_from_response(502, html, "text/html", None)
    assert "web page" in e.message and "502 Bad Gateway" in e.message and e.retryable
    e = protocol.error_from_response(401, b"Unauthorized: token missing", "text/plain", None)
    assert e.kind == "auth" and not e.retryable
    e = protocol.error_from_response(418, b"I'm a teapot", "text/plain", None)
    assert "teapot" in e.message and not e.retryable


def test_truncated_success_body_is_retryable():
    with pytest.raises(ApiError) as info:
        protocol.decode_json(b'{"candidates": [{"content": {"parts": [{"inlineData": {"data": "iVBO', 200)
    assert info.value.kind == "bad_response" and info.value.http_status == 200
    assert info.value.retryable and "cut off" in str(info.value)


def quota_failure(quota_id: str, value: str = "250") -> dict:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generativelanguage.googleapis.com/requests", "quotaId": quota_id,
                        "quotaValue": value}],
    }  # fmt: skip


RETRY_26S = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}
NOW = 1795435200.0  # 2026-11-23 12:00 UTC = 04:00 in Los Angeles (PST, UTC-8)


@pytest.mark.parametrize(
    "message,details,kind",
    [
        ("Resource has been exhausted.", [RETRY_26S], ErrorKind.RATE_LIMIT),
        ("Quota exceeded for metric: generate_content_free_tier_requests, limit: 10. Please retry in 26s.",
         [quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10"), RETRY_26S],
         ErrorKind.RATE_LIMIT),
        ("Quota exceeded.", [quota_failure("GenerateRequestsPerDayPerProjectPerModel")], ErrorKind.DAILY_QUOTA),
        ("Quota exceeded.", [quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")],
         ErrorKind.DAILY_QUOTA),
        ("Quota exceeded for quota metric 'requests per day'.", [], ErrorKind.DAILY_QUOTA),
        ("Quota exceeded.", [quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "0")],
         ErrorKind.QUOTA),
        ("Quota exceeded for metric: x, limit: 0", [], ErrorKind.QUOTA),
        ("Your prepayment credits are depleted.", [], ErrorKind.QUOTA),
        ("This model has no free tier; enable billing.", [], ErrorKind.QUOTA),
        ("You exceeded your current quota on the free tier.", [], ErrorKind.QUOTA),
    ],
)  # fmt: skip
def test_429s_are_told_apart(message, details, kind):
    e = api_errors.error_from_response(429, envelope(429, "RESOURCE_EXHAUSTED", message, *details), "", None, now=NOW)
    assert e.kind == kind and e.retryable == (kind == ErrorKind.RATE_LIMIT)
    if kind == ErrorKind.DAILY_QUOTA:
        assert e.resume_at == 1795507200.0  # 2026-11-24 00:00 in Los Angeles = 08:00 UTC
        assert "midnight Pacific" in e.message
    else:
        assert e.resume_at is None


def test_resume_at_follows_daylight_saving_and_the_fallback_agrees():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    la = ZoneInfo("America/Los_Angeles")
    # 2026-03-07 21:00 PST: the next midnight (Mar 8, before DST starts at 02:00) is 08:00 UTC
    assert api_errors.next_pacific_midnight(1772946000.0) == datetime(2026, 3, 8, tzinfo=la).timestamp()
    assert api_errors.next_pacific_midnight(1772946000.0) == 1772956800.0
    # 2026-07-01 12:00 UTC = 05:00 PDT: the next midnight is 07:00 UTC on July 2
    assert api_errors.next_pacific_midnight(1782907200.0) == 1782975600.0
    for now in range(1767225600, 1798761600, 86400 * 3 + 3600 * 7):  # all of 2026, at shifting hours
        zone = api_errors._pacific_fallback(now)
        assert zone.utcoffset(None) == datetime.fromtimestamp(now, la).utcoffset()


@pytest.mark.parametrize(
    "message",
    [
        "Image part is missing a thought_signature in content position 2, part position 1.",
        "Text part is missing a thought_signature in content position 2, part position 1.",
        "Corrupted thought signature.",
    ],
)
def test_thought_signature_refusals_have_their_own_kind_and_a_plain_sentence(message):
    e = api_errors.error_from_response(400, envelope(400, "INVALID_ARGUMENT", message), "", None)
    assert e.kind == ErrorKind.SIGNATURE and not e.retryable
    assert "thought_signature" not in e.message and "conversation" in e.message


def test_a_404_on_a_retired_model_names_the_replacement():
    body = envelope(404, "NOT_FOUND", "models/gemini-2.5-flash-image is not found for API version v1beta")
    e = api_errors.error_from_response(
        404, body, "", None, "gemini-2.5-flash-image", "gemini-3.1-flash-image", retired=True
    )
    assert e.kind == ErrorKind.RETIRED_MODEL and "Use gemini-3.1-flash-image instead" in e.message
    live = api_errors.error_from_response(404, body, "", None, "gemini-3-pro-image", None)
    assert live.kind == ErrorKind.NOT_FOUND


@pytest.mark.parametrize(
    "code,status,message,kind",
    [
        (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", ErrorKind.AUTH),
        (403, "PERMISSION_DENIED", "Your API key was reported as leaked.", ErrorKind.AUTH),
        (400, "INVALID_ARGUMENT", "The prompt could not be submitted: sensitive words.", ErrorKind.BLOCKED_PROMPT),
        (400, "FAILED_PRECONDITION", "User location is not supported.", ErrorKind.PRECONDITION),
        (400, "INVALID_ARGUMENT", "candidateCount must be 1", ErrorKind.BAD_REQUEST),
        (503, "UNAVAILABLE", "The model is overloaded.", ErrorKind.OVERLOADED),
        (500, "INTERNAL", "oops", ErrorKind.SERVER),
    ],
)
def test_every_kind_is_chosen_where_the_error_is_parsed(code, status, message, kind):
    e = api_errors.error_from_response(code, envelope(code, status, message), "", None)
    assert e.kind is kind and isinstance(e.kind, ErrorKind) and e.kind == kind.value  # old string compares hold
    html = api_errors.error_from_response(502, b"<html><title>Bad gateway</title></html>", "text/html", None)
    assert html.kind is ErrorKind.BAD_RESPONSE
