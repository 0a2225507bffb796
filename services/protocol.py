"""The two wire protocols: request bodies from a GenerationRequest, and typed readings of what comes back.

Pure functions over bytes and dicts: no I/O, so they run in a worker thread (a 20 MB body takes ~140 ms to parse).
Bodies are read in camelCase or snake_case alike.
"""

from __future__ import annotations

import base64
import binascii
import re

from services import json_lifting
from services.api_errors import (  # noqa: F401 (error_from_response and parse_duration: re-exported)
    TRANSIENT_STATUSES,
    error_from_response,
    not_json_error,
    parse_duration,
)
from services.catalog import ModelInfo
from services.errors import ApiError
from services.imaging import ImageFormatError, check_image
from services.status import ErrorKind
from services.types import GenerationRequest, ParsedResponse, ReceivedImage, Usage

SAFETY_FINISH_REASONS = {
    "SAFETY": "the image was blocked by safety filters",
    "IMAGE_SAFETY": "the image was blocked by safety filters",
    "PROHIBITED_CONTENT": "the request touched prohibited content",
    "IMAGE_PROHIBITED_CONTENT": "the image would have shown prohibited content",
    "RECITATION": "the result was too close to existing material (recitation)",
    "IMAGE_RECITATION": "the image was too close to existing material (recitation)",
    "BLOCKLIST": "the request contained a blocked term",
    "SPII": "the request touched sensitive personal information",
}
OTHER_FINISH_REASONS = {
    "NO_IMAGE": "the model answered without an image",
    "IMAGE_OTHER": "the model could not make the image",
    "OTHER": "the model stopped for an unspecified reason",
    "MAX_TOKENS": "the answer hit the output token limit before an image",
}
BLOCK_REASONS = {
    "SAFETY": "safety filters",
    "OTHER": "an unspecified reason",
    "BLOCKLIST": "a blocked term",
    "PROHIBITED_CONTENT": "prohibited content",
    "IMAGE_SAFETY": "the reference image(s), by safety filters",
}


def get(d: dict, camel: str, default=None):
    """A field by its camelCase name or its snake_case twin."""
    if camel in d:
        return d[camel]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()
    return d.get(snake, default)


# --- requests -----------------------------------------------------------------------------------------------


def predict_body(request: GenerationRequest, model: ModelInfo, sample_count: int) -> dict:
    parameters: dict = {"sampleCount": sample_count}
    if request.aspect_ratio:
        parameters["aspectRatio"] = request.aspect_ratio
    if request.person_generation:
        parameters["personGeneration"] = request.person_generation
    if request.size and model.sizes:
        parameters["sampleImageSize"] = request.size  # the wire name; `imageSize` is generateContent's
    parameters["includeRaiReason"] = True
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def generate_content_body(
    request: GenerationRequest, model: ModelInfo, size_spelling: str | None = None, *, include_thoughts: bool = False
) -> dict:
    """`include_thoughts`: ask for thought summaries and interim images (only worth it when the answer streams)."""
    parts: list[dict] = [{"text": request.prompt}]
    for ref in request.references:
        parts.append({"inlineData": {"mimeType": ref.mime_type, "data": base64.b64encode(ref.data).decode("ascii")}})
    config: dict = {"responseModalities": ["TEXT", "IMAGE"]}
    image_config: dict = {}
    if request.aspect_ratio:
        image_config["aspectRatio"] = request.aspect_ratio
    if request.size and model.sizes:
        image_config["imageSize"] = size_spelling or request.size
    if image_config:
        config["imageConfig"] = image_config
    if request.seed is not None and model.takes_seed:
        config["seed"] = request.seed
    if include_thoughts:
        config["thinkingConfig"] = {"includeThoughts": True}
    contents = [*request.conversation, {"role": "user", "parts": parts}]  # a refine: the earlier turns first
    return {"contents": contents, "generationConfig": config}


# --- responses ----------------------------------------------------------------------------------------------


def decode_json(raw: bytes, http_status: int, content_type: str = "") -> dict:
    """The body as a dict, or ApiError describing what arrived instead (HTML, text, half a body)."""
    try:
        value = json_lifting.loads(raw)  # the images as views: json.loads does not hold the GIL for their length
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise not_json_error(raw, http_status, content_type) from None
    if not isinstance(value, dict):
        raise ApiError(
            f"The server answered with JSON that is not an API response (HTTP {http_status}).",
            http_status=http_status,
            kind=ErrorKind.BAD_RESPONSE,
            retryable=False,
        )
    return value


B64_SLICE = 1 << 20  # characters decoded per call: each call holds the GIL, so the GUI thread waits at most ~2 ms


def _b64decode(text: str | bytes | memoryview) -> bytes | None:
    """Standard base64 (checked strictly, in slices), else the URL-safe alphabet or line-wrapped text; None if neither.

    A regular expression over 7 MB took 80 ms with the GIL held: the window stalled while images arrived. Streamed
    images arrive as bytes (a memoryview into the event), decoded slice by slice without a copy of the whole.
    """
    try:
        if len(text) % 4 == 0:
            return b"".join(
                base64.b64decode(text[i : i + B64_SLICE], validate=True) for i in range(0, len(text), B64_SLICE)
            )
    except (binascii.Error, ValueError):
        pass
    if not isinstance(text, str):
        text = bytes(text).decode("ascii", errors="replace")
    compact = "".join(text.split())  # some servers wrap lines
    try:
        if re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", compact):
            return base64.b64decode(compact, validate=True)
        if re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", compact):  # some proxies send the URL-safe alphabet
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        pass
    return None


def _decode_image(part: dict, dropped: list[str], where: str) -> ReceivedImage | None:
    data_b64 = get(part, "data") if "data" in part else get(part, "bytesBase64Encoded")
    declared = get(part, "mimeType")
    if not isinstance(data_b64, str | bytes | memoryview) or not len(data_b64):
        dropped.append(f"{where}: no image data")
        return None
    data = _b64decode(data_b64)
    if data is None:
        dropped.append(f"{where}: the image data is not valid base64")
        return None
    try:
        mime, width, height = check_image(data, declared)
    except ImageFormatError as exc:
        dropped.append(f"{where}: {exc}")
        return None
    return ReceivedImage(data=data, mime_type=mime, width=width, height=height, declared_mime_type=declared)


def parse_usage(body: dict) -> Usage | None:
    meta = get(body, "usageMetadata")
    if not isinstance(meta, dict):
        return None
    usage = Usage(
        prompt_tokens=int(get(meta, "promptTokenCount", 0) or 0),
        output_tokens=int(get(meta, "candidatesTokenCount", 0) or 0),
    )
    for detail in get(meta, "candidatesTokensDetails", []) or []:
        if isinstance(detail, dict) and get(detail, "modality") == "IMAGE":
            usage.image_tokens += int(get(detail, "tokenCount", 0) or 0)
    return usage


def parse_generate_content(body: dict) -> ParsedResponse:
    result = ParsedResponse(usage=parse_usage(body), model_version=get(body, "modelVersion"))
    candidates = get(body, "candidates") or []
    feedback = get(body, "promptFeedback") or {}
    if not candidates:
        block = get(feedback, "blockReason") if isinstance(feedback, dict) else None
        if block:
            why = BLOCK_REASONS.get(block, block)
            message = get(feedback, "blockReasonMessage")
            result.blocked_reason = f"The prompt was blocked: {why} ({block})." + (f" {message}" if message else "")
        else:
            result.no_image_reason = "The server answered without any result."
        return result
    first = candidates[0] if isinstance(candidates[0], dict) else {}
    streamed_turn = body.get("_atelierModelTurn")  # a streamed answer: every event's parts (streaming.MODEL_TURN_KEY)
    if isinstance(streamed_turn, dict):
        result.model_turn = streamed_turn
    elif isinstance(get(first, "content"), dict):
        result.model_turn = get(first, "content")
    texts: list[str] = []
    finish_notes: list[tuple[str, str]] = []
    for c_index, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            continue
        content = get(candidate, "content") or {}
        for p_index, part in enumerate(get(content, "parts") or []):
            if not isinstance(part, dict) or part.get("thought") is True:
                continue
            inline = get(part, "inlineData")
            if isinstance(inline, dict):
                image = _decode_image(inline, result.dropped, f"image {c_index + 1}.{p_index + 1}")
                if image:
                    result.images.append(image)
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
        finish = get(candidate, "finishReason")
        if finish and finish != "STOP":
            finish_notes.append((finish, get(candidate, "finishMessage") or ""))
    result.text = "\n".join(t.strip() for t in texts if t.strip())
    if not result.images:
        for finish, message in finish_notes:
            extra = f" {message}" if message else ""
            if finish in SAFETY_FINISH_REASONS:
                result.blocked_reason = f"No image: {SAFETY_FINISH_REASONS[finish]} ({finish}).{extra}"
                break
            result.no_image_reason = f"No image: {OTHER_FINISH_REASONS.get(finish, finish.lower())} ({finish}).{extra}"
        if not result.blocked_reason and not result.no_image_reason:
            if result.dropped:
                result.no_image_reason = "The server's image could not be used: " + "; ".join(result.dropped) + "."
            elif result.text:
                result.no_image_reason = "The model answered with text only, without an image."
            else:
                result.no_image_reason = "The model answered without an image."
    return result


def parse_predict(body: dict) -> ParsedResponse:
    result = ParsedResponse()
    predictions = get(body, "predictions") or []
    for index, entry in enumerate(predictions):
        if not isinstance(entry, dict):
            continue
        if get(entry, "bytesBase64Encoded"):
            image = _decode_image(entry, result.dropped, f"image {index + 1}")
            if image:
                result.images.append(image)
        elif get(entry, "raiFilteredReason"):
            result.filtered_notes.append(str(get(entry, "raiFilteredReason")))
    if not result.images:
        if result.filtered_notes:
            result.blocked_reason = "Every image was filtered: " + " ".join(result.filtered_notes)
        elif result.dropped:
            result.no_image_reason = "The server's images could not be used: " + "; ".join(result.dropped) + "."
        else:
            result.no_image_reason = (
                "The server returned no image (an empty answer usually means every image was filtered)."
            )
    return result
