"""`:predict` for the Imagen family: sampleCount images, some of which may be filtered, with Google's options."""

from __future__ import annotations

import base64

from services.catalog import ModelInfo
from services.emulator.faults import invalid
from services.emulator.sizes import pixel_size, text_tokens

ALL_FILTERED = (
    "Unable to show generated images. All images were filtered out because they violated Vertex AI's usage "
    "guidelines. You will not be charged for blocked images. Try rephrasing the prompt. If you think this was an "
    "error, send feedback. Support codes: 56562880"
)
SOME_FILTERED = (
    "Unable to show this generated image. It was filtered out because it violated Vertex AI's usage guidelines. "
    "You will not be charged for blocked images. The other images are shown. Support codes: 58061214"
)
BLOCKED_PROMPT = (
    "Your current prompt may contain sensitive words that violate Google's Responsible AI practices. Try "
    "rephrasing the prompt. If you think this was an error, send feedback."
)
SAFETY_CATEGORIES = ["Death, Harm & Tragedy", "Firearms & Weapons", "Hate", "Health", "Illicit Drugs", "Politics",
                     "Porn", "Religion & Belief", "Toxic", "Violence", "Vulgarity", "War & Conflict"]  # fmt: skip
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def _safety(seed: int) -> dict:
    scores = [round(((seed * (i + 3)) % 97) / 1000, 3) for i in range(len(SAFETY_CATEGORIES))]
    return {"categories": list(SAFETY_CATEGORIES), "scores": scores}


def predict(emulator, model: ModelInfo, body: dict) -> dict:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        raise invalid("* instances: at least one instance with a prompt is required.")
    prompt = str(instances[0].get("prompt", ""))
    if not prompt.strip():
        raise invalid("The prompt is empty.")
    if model.prompt_token_limit and text_tokens(prompt) > model.prompt_token_limit:
        raise invalid(f"The prompt is longer than the maximum of {model.prompt_token_limit} tokens.")
    params = body.get("parameters") or {}
    if "imageSize" in params:
        raise invalid("Invalid JSON payload received. Unknown name \"imageSize\" at 'parameters': Cannot find field.")
    count = int(params.get("sampleCount", 4))
    if not 1 <= count <= 4:
        raise invalid("sampleCount must be between 1 and 4.")
    ratio = params.get("aspectRatio") or "1:1"
    if ratio not in model.aspect_ratios:
        raise invalid(f"Unsupported aspect ratio: {ratio}. Supported values: {', '.join(model.aspect_ratios)}.")
    size = params.get("sampleImageSize")
    if size is not None and size not in model.sizes:
        raise invalid(f"sampleImageSize {size} is not supported for {model.id}.")
    options = params.get("outputOptions") or {}
    mime = str(options.get("mimeType") or f"image/{emulator.image_format.lower()}")
    if mime not in FORMATS and mime != f"image/{emulator.image_format.lower()}":
        raise invalid(f"Unsupported output mime type: {mime}. Use image/png or image/jpeg.")
    fmt = FORMATS.get(mime, emulator.image_format)
    quality = int(options.get("compressionQuality", 75)) if fmt == "JPEG" else -1
    rai = bool(params.get("includeRaiReason"))
    safety = bool(params.get("includeSafetyAttributes"))
    if "#blocked" in prompt:
        raise invalid(BLOCKED_PROMPT)
    if "#noimage" in prompt:
        return {}
    width, height = pixel_size(ratio, size, "imagen")
    filtered = [("#filtered" in prompt and i % 2 == 1) or "#safety" in prompt for i in range(count)]
    predictions = []
    for i in range(count):
        if filtered[i]:
            if rai:
                predictions.append({"raiFilteredReason": ALL_FILTERED if all(filtered) else SOME_FILTERED})
            continue
        data = emulator.painter.picture(prompt, width, height, i, fmt, quality=quality)
        entry = {"mimeType": mime, "bytesBase64Encoded": base64.b64encode(data).decode("ascii")}
        if safety:
            entry["safetyAttributes"] = _safety(len(prompt) + i)
        predictions.append(entry)
    if safety:
        predictions.append({"safetyAttributes": _safety(len(prompt)), "contentType": "Positive Prompt"})
    return {"predictions": predictions} if predictions else {}
