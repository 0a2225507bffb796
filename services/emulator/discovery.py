"""`GET models`, `GET models/{id}`: what the emulator serves, described as Google describes its models."""

from __future__ import annotations

from services.catalog import ModelInfo
from services.emulator.faults import invalid, not_found

GEMINI_METHODS = ["generateContent", "countTokens"]


def methods_of(protocol: str, batch: bool) -> list[str]:
    if protocol == "predict":
        return ["predict"]
    return GEMINI_METHODS + (["batchGenerateContent"] if batch else [])


def resource(model: ModelInfo, protocol: str, batch: bool) -> dict:
    entry = {
        "name": f"models/{model.id}",
        "version": "001",
        "displayName": model.display_name,
        "description": f"{model.display_name}: image generation on Atelier's offline demo endpoint.",
        "supportedGenerationMethods": methods_of(protocol, batch),
    }
    if protocol == "generateContent":
        entry.update({"inputTokenLimit": 131072, "outputTokenLimit": 32768, "temperature": 1.0, "topP": 0.95})
        entry["thinking"] = bool(model.thinking_levels)
    else:
        entry.update({"inputTokenLimit": model.prompt_token_limit or 480, "outputTokenLimit": 8192})
    return entry


def list_models(emulator, query: dict) -> dict:
    try:
        asked = int((query.get("pageSize") or ["50"])[0] or 50)
        start = int((query.get("pageToken") or ["0"])[0] or 0)
    except ValueError:
        raise invalid("Invalid page token or page size.") from None
    page_size = max(1, min(emulator.page_size, asked))
    ids = list(emulator.models)
    page = ids[start : start + page_size]
    body: dict = {
        "models": [resource(emulator.model_info(m), emulator.models[m], emulator.batch_enabled) for m in page]
    }
    if start + page_size < len(ids):
        body["nextPageToken"] = str(start + page_size)
    return body


def get_model(emulator, model_id: str, version: str) -> dict:
    if model_id not in emulator.models:
        raise not_found(f"models/{model_id} is not found for API version {version}, or is not supported for get.")
    return resource(emulator.model_info(model_id), emulator.models[model_id], emulator.batch_enabled)
