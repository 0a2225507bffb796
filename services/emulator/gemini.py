"""`:generateContent`, `:streamGenerateContent` and `:countTokens` for the Gemini image models.

One answer is built as a list of events, each a whole GenerateContentResponse: thought summaries and interim
thought images first (streamed, or kept with `includeThoughts`), then the text, then the final image with the
finish reason and the usage. `:generateContent` merges them into one response.
"""

from __future__ import annotations

import base64
import os
import random
from dataclasses import dataclass, field

from services.catalog import ModelInfo
from services.emulator import conversation
from services.emulator.faults import ApiFailure, invalid
from services.emulator.sizes import closest_ratio, family_of, image_tokens, pixel_size, text_tokens

IMAGE_CONFIG_FIELDS = {"aspectRatio", "imageSize", "aspect_ratio", "image_size"}
THOUGHT_TOKENS = {"minimal": 48, "low": 96, "medium": 192, "high": 384}
SLOW_SECONDS = 20.0  # what `#slow` costs, spread over a stream's events


@dataclass
class Answer:
    events: list[dict] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)  # seconds before each event
    slow: bool = False

    def merged(self) -> dict:
        """The events as one generateContent response."""
        if len(self.events) == 1:
            return self.events[0]
        last = dict(self.events[-1])
        parts = [p for e in self.events for c in e.get("candidates", []) for p in c["content"].get("parts", [])]
        candidate = dict(last["candidates"][0])
        candidate["content"] = {"role": "model", "parts": parts}
        last["candidates"] = [candidate]
        return last


def _settings(model: ModelInfo, body: dict) -> tuple[dict, dict, dict]:
    config = body.get("generationConfig") or body.get("generation_config") or {}
    if not isinstance(config, dict):
        raise invalid("Invalid value at 'generation_config': not an object.")
    if int(config.get("candidateCount", config.get("candidate_count", 1)) or 1) != 1:
        raise invalid("Only one candidate can be specified in the current model")
    image_config = config.get("imageConfig") or config.get("image_config") or {}
    for name in image_config:
        if name not in IMAGE_CONFIG_FIELDS:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at 'generation_config.image_config': "
                "Cannot find field."
            )
    ratio = image_config.get("aspectRatio") or image_config.get("aspect_ratio")
    if ratio is not None and ratio not in model.aspect_ratios:
        raise invalid(f"Unsupported aspect ratio: {ratio}. Supported values: {', '.join(model.aspect_ratios)}.")
    size = image_config.get("imageSize") or image_config.get("image_size")
    if size is not None:
        accepted = set(model.sizes) | ({"0.5K"} if "512" in model.sizes else set())
        if size not in accepted:
            raise invalid(f"Unsupported imageSize: {size}" + ("" if model.sizes else " (this model takes no size)"))
    thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
    level = str(thinking.get("thinkingLevel") or thinking.get("thinking_level") or "").lower()
    if level and model.thinking_levels and level not in model.thinking_levels:
        raise invalid(f"Thinking level {level.upper()} is not supported for {model.id}.")
    return config, {"ratio": ratio, "size": size}, {"level": level, "include": bool(thinking.get("includeThoughts")
                                                                                    or thinking.get("include_thoughts"))}  # fmt: skip


def _usage(chat: conversation.Conversation, output: list[tuple[str, int]] = (), thoughts: int = 0) -> dict:
    prompt_details = [{"modality": "TEXT", "tokenCount": chat.prompt_text_tokens}]
    if chat.prompt_image_tokens:
        prompt_details.append({"modality": "IMAGE", "tokenCount": chat.prompt_image_tokens})
    usage = {"promptTokenCount": chat.prompt_tokens, "promptTokensDetails": prompt_details}
    candidates = sum(tokens for _, tokens in output)
    if output:
        usage["candidatesTokenCount"] = candidates
        usage["candidatesTokensDetails"] = [{"modality": m, "tokenCount": t} for m, t in output]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    usage["totalTokenCount"] = chat.prompt_tokens + candidates + thoughts
    return usage


def _event(model: ModelInfo, response_id: str, parts: list[dict] | None = None, **extra) -> dict:
    event: dict = {}
    if parts is not None:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        for key in ("finishReason", "finishMessage"):
            if key in extra:
                candidate[key] = extra.pop(key)
        event["candidates"] = [candidate]
    event.update(extra)
    event["modelVersion"] = model.id
    event["responseId"] = response_id
    return event


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def answer(emulator, model: ModelInfo, body: dict, *, stream: bool) -> Answer:
    config, image, thinking = _settings(model, body)
    chat = conversation.read(body.get("contents"), emulator.signer)
    prompt = chat.prompt
    response_id = base64.urlsafe_b64encode(os.urandom(15)).decode("ascii")
    result = Answer(slow="#slow" in prompt)
    thinks = bool(model.thinking_levels)
    level = thinking["level"] or ("medium" if "medium" in model.thinking_levels else "high")
    thought_tokens = THOUGHT_TOKENS.get(level, 192) if thinks else 0
    if "#blocked" in prompt:
        result.events.append(_event(model, response_id, promptFeedback={"blockReason": "PROHIBITED_CONTENT"},
                                    usageMetadata=_usage(chat)))  # fmt: skip
        return result
    if "#safety" in prompt:
        result.events.append(_event(model, response_id, [], finishReason="IMAGE_SAFETY",
                                    finishMessage="The generated image was flagged by safety filters.",
                                    usageMetadata=_usage(chat, thoughts=thought_tokens)))  # fmt: skip
        return result
    modalities = [str(m).upper() for m in (config.get("responseModalities") or config.get("response_modalities") or [])]
    if "#noimage" in prompt or (modalities and "IMAGE" not in modalities):
        text = "I can describe that, but I could not draw it this time." if "#noimage" in prompt else f"{prompt}"
        parts = [emulator.signer.sign({"text": text})]
        usage = _usage(chat, [("TEXT", text_tokens(text))], thought_tokens)
        result.events.append(_event(model, response_id, parts, finishReason="STOP", usageMetadata=usage))
        return result

    ratio = image["ratio"]
    shape_source = chat.parent or next((r for r in chat.references if r.width), None)
    if ratio is None and shape_source is not None and shape_source.width:
        ratio = closest_ratio(shape_source.width, shape_source.height, model.aspect_ratios or ("1:1",))
    width, height = pixel_size(ratio, image["size"] or model.default_size, family_of(model))
    seed = config.get("seed")
    variant = int(seed) if seed is not None else random.getrandbits(32)
    fmt = emulator.image_format
    mime = f"image/{fmt.lower()}"
    paint = dict(base=chat.parent.data if chat.parent else None,
                 insets=tuple(r.data for r in chat.references) if not chat.parent else ())  # fmt: skip

    show_thoughts = thinking["include"] or (stream and result.slow)
    if thinks and show_thoughts:
        summary = f"**Planning the picture**\n\nReading the request: {prompt[:120]}. Choosing light, ground and motifs."
        result.events.append(_event(model, response_id, [{"text": summary, "thought": True}]))
        drafts = 2 if model.id.startswith("gemini-3-pro") else 1
        for n in range(1, drafts + 1):
            data = emulator.painter.picture(prompt, max(64, width // 4), max(64, height // 4), variant, "PNG",
                                            draft=n, **paint)  # fmt: skip
            part = emulator.signer.sign({"inlineData": {"mimeType": "image/png", "data": _b64(data)}, "thought": True})
            result.events.append(_event(model, response_id, [part]))
    data = emulator.painter.picture(prompt, width, height, variant, fmt, **paint)
    what = "the edited picture" if chat.parent else "your picture"
    text = f"Here is {what}: {prompt[:80]}" + ("..." if len(prompt) > 80 else "")
    result.events.append(_event(model, response_id, [emulator.signer.sign({"text": text})]))
    final = emulator.signer.sign({"inlineData": {"mimeType": mime, "data": _b64(data)}})
    output = [("TEXT", text_tokens(text)), ("IMAGE", image_tokens(model, image["size"] or model.default_size))]
    result.events.append(_event(model, response_id, [final], finishReason="STOP",
                                usageMetadata=_usage(chat, output, thought_tokens)))  # fmt: skip
    if stream and result.slow:
        result.pauses = [SLOW_SECONDS / len(result.events)] * len(result.events)
    return result


def count_tokens(emulator, model: ModelInfo, body: dict) -> dict:
    request = body.get("generateContentRequest") or body.get("generate_content_request") or body
    chat = conversation.read(request.get("contents"), emulator.signer, strict=False)
    details = [{"modality": "TEXT", "tokenCount": chat.prompt_text_tokens}]
    if chat.prompt_image_tokens:
        details.append({"modality": "IMAGE", "tokenCount": chat.prompt_image_tokens})
    return {"totalTokens": chat.prompt_tokens, "promptTokensDetails": details}


__all__ = ["Answer", "ApiFailure", "answer", "count_tokens"]
