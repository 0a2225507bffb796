"""Refine threads: each Gemini image keeps the conversation that made it, so it can be edited by a new instruction.

Stored form (the `conversation` field of the image's `atelier` record, embedded or in the sidecar):
    {"v": 1, "endpoint": label, "model": id, "original_sha256": sha of the server's image bytes,
     "contents": [turns oldest first; the last is the model turn this image came from, exactly as received]}
Every `inlineData` (or `inline_data`) part's `data` is replaced in place by `atelierSha256`; the bytes live once, by
content, in the library's kept references (references/<sha[:2]>/<sha>.<ext>), which the rebuild never touches. Every
other field (`thought`, `thoughtSignature`, texts) is kept as the server sent it, so restoring replaces only the
reference with the base64 of the very bytes that were decoded, checked against their sha256 on reading.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services import metadata, pricing
from services.catalog import DEFAULT_MODEL, ModelInfo
from services.errors import InputError, LibraryError
from services.types import GenerationRequest, GenerationResult, ReceivedImage, ReferenceImage, SavedImage

if TYPE_CHECKING:
    from services.library import Library

VERSION = 1
INLINE_KEYS = ("inlineData", "inline_data")
DATA_REF = "atelierSha256"
MIME_KEYS = ("mimeType", "mime_type")
MIN_PREFIX = 8
MAX_REFERENCE_BYTES = (20 * 2**20 * 3) // 4 - 64 * 1024  # generation's limit for one inline request (no import cycle)
INPUT_TOKENS_PER_IMAGE = 560  # what Google counts per input image, at least


@dataclass(frozen=True)
class Refine:
    request: GenerationRequest
    note: str | None  # set when the image had no conversation to continue: a new one starts with it as reference


# --- stored <-> wire ----------------------------------------------------------------------------------------------


def _inline(part: dict) -> tuple[str, dict] | None:
    for key in INLINE_KEYS:
        if isinstance(part.get(key), dict):
            return key, part[key]
    return None


def _mime(inline: dict) -> str:
    for key in MIME_KEYS:
        if isinstance(inline.get(key), str):
            return inline[key]
    return "application/octet-stream"


def to_stored(contents: list[dict], library: Library) -> list[dict]:
    """Wire turns with every inline image's bytes kept in the library and replaced by their sha256, in place."""
    stored = []
    for turn in contents:
        parts = []
        for part in turn.get("parts") or []:
            found = _inline(part) if isinstance(part, dict) else None
            if found is None:
                parts.append(part)
                continue
            key, inline = found
            data = base64.b64decode(inline.get("data") or "")
            mime = _mime(inline)
            reference = ReferenceImage("", mime, data)
            library.files.keep_references((reference,))
            swapped = {
                (DATA_REF if k == "data" else k): (reference.sha256 if k == "data" else v) for k, v in inline.items()
            }
            parts.append({k: (swapped if k == key else v) for k, v in part.items()})
        stored.append({**turn, "parts": parts})
    return stored


def to_wire(stored: list[dict], library: Library, fallback: dict[str, bytes] | None = None) -> list[dict]:
    """The turns as they go back to the server; LibraryError when a kept image is gone or changed."""
    wire = []
    for turn in stored:
        parts = []
        for part in turn.get("parts") or []:
            found = _inline(part) if isinstance(part, dict) else None
            if found is None or DATA_REF not in found[1]:
                parts.append(part)
                continue
            key, inline = found
            sha = inline[DATA_REF]
            data = library.files.reference_bytes(sha, _mime(inline)) if isinstance(sha, str) else None
            if data is None and fallback and sha in fallback:
                data = fallback[sha]
            if data is None:
                raise LibraryError("An image of this conversation is no longer kept in the library.")
            encoded = base64.b64encode(data).decode("ascii")
            swapped = {("data" if k == DATA_REF else k): (encoded if k == DATA_REF else v) for k, v in inline.items()}
            parts.append({k: (swapped if k == key else v) for k, v in part.items()})
        wire.append({**turn, "parts": parts})
    return wire


def user_turn(request: GenerationRequest) -> dict:
    """The user turn generate_content_body sends for this request (the same parts, in the same order)."""
    parts: list[dict] = [{"text": request.prompt}]
    for ref in request.references:
        parts.append({"inlineData": {"mimeType": ref.mime_type, "data": base64.b64encode(ref.data).decode("ascii")}})
    return {"role": "user", "parts": parts}


# --- saving ---------------------------------------------------------------------------------------------------------


def save_image(
    library: Library, generation_id: str, index: int, image: ReceivedImage, model_turn: dict | None, **kw
) -> SavedImage:
    """Library.save_image, with the conversation that made the image in its record (generateContent only).

    Blocking: call from a worker. The server's original bytes are kept by content and must match the saved image's
    decoded bytes; a model turn without them is not stored (the image is then refined as a new conversation)."""
    request: GenerationRequest = kw["request"]
    conversation = None
    if model_turn is not None and request.protocol == "generateContent":
        try:
            contents = to_stored([*request.conversation, user_turn(request), model_turn], library)
        except (ValueError, OSError):  # undecodable parts: save the image, without a conversation
            contents = None
        original = hashlib.sha256(image.data).hexdigest()
        if contents and original in _shas(contents[-1]):
            conversation = {
                "v": VERSION,
                "endpoint": kw.get("endpoint"),
                "model": request.model,
                "original_sha256": original,
                "contents": contents,
            }
    return library.save_image(generation_id, index, image, conversation=conversation, **kw)


def _shas(turn: dict) -> list[str]:
    return [
        f[1][DATA_REF]
        for p in turn.get("parts") or []
        if isinstance(p, dict) and (f := _inline(p)) and DATA_REF in f[1]
    ]


# --- refining -------------------------------------------------------------------------------------------------------


def resolve_generation(library: Library, text: str) -> str:
    """The generation id a user typed (whole, or a prefix of at least 8 characters); InputError otherwise."""
    text = (text or "").strip().lower()
    if len(text) < MIN_PREFIX:
        raise InputError(f"Give the generation id, or at least its first {MIN_PREFIX} characters.")
    found = library.find_generations(text, limit=3)
    if text in found:
        return text
    if not found:
        raise InputError(f"No generation in this library has an id starting with {text}.")
    if len(found) > 1:
        raise InputError(f"{text} is the start of more than one generation id ({', '.join(found[:2])}, …): give more.")
    return found[0]


def image_record(library: Library, generation_id: str, image_index: int) -> tuple[SavedImage, dict | None]:
    entry = library.generation(generation_id)
    if entry is None:
        raise InputError("This generation is no longer in the library.")
    by_index = {image.index: image for image in entry.images}
    if image_index not in by_index:
        have = ", ".join(str(i) for i in sorted(by_index)) or "none"
        raise InputError(f"Generation {generation_id[:8]} has no image {image_index} (its images: {have}).")
    image = by_index[image_index]
    problems: list[str] = []
    data = Path(image.path).read_bytes()
    record = metadata.read_embedded(data, image.path, problems) or metadata.read_sidecar(image.path, problems)
    return image, record if isinstance(record, dict) else None


def prepare(
    library: Library,
    generation_id: str,
    prompt: str,
    *,
    endpoint_label: str,
    image_index: int = 0,
    references: tuple[ReferenceImage, ...] = (),
    model: str | None = None,
    aspect_ratio: str | None = None,
    size: str | None = None,
) -> Refine:
    """The request that refines image `image_index` of `generation_id`. Blocking (reads files): call from a worker."""
    image, record = image_record(library, generation_id, image_index)
    parent = library.generation(generation_id)
    parent_params = parent.params if parent else {}
    lineage = {
        "parent_generation_id": generation_id,
        "parent_image_index": image_index,
        "thread_id": (parent.lineage_json()["thread_id"] if parent else generation_id),
    }
    stored = (record or {}).get("conversation")
    conversation_model = stored.get("model") if isinstance(stored, dict) else None
    model_id = (model or conversation_model or parent_params.get("model") or DEFAULT_MODEL).removeprefix("models/")
    if not str(model_id).startswith("gemini"):  # an Imagen parent: refine with the default Gemini image model
        model_id = DEFAULT_MODEL if model is None else model_id
    wire: list[dict] = []
    note = _why_new(stored, endpoint_label, model_id)
    if note is None:
        file_bytes = Path(image.path).read_bytes()
        fallback = {hashlib.sha256(file_bytes).hexdigest(): file_bytes}  # a sidecar image is the server's bytes
        try:
            wire = to_wire(stored["contents"], library, fallback)
        except LibraryError:
            note = "The original bytes of this image's conversation are gone; a new conversation starts with it."
    if note is not None:
        lineage["new_conversation"] = True
        data = Path(image.path).read_bytes()
        references = (ReferenceImage(image.path, image.mime_type, data), *references)
    request = GenerationRequest(
        prompt=prompt,
        model=model_id,
        count=1,
        aspect_ratio=aspect_ratio or parent_params.get("aspect_ratio"),
        size=size or parent_params.get("size"),
        references=tuple(references),
        conversation=tuple(wire),
        lineage=lineage,
    )
    total = conversation_bytes(request) + sum(len(r.data) for r in request.references)
    if total > MAX_REFERENCE_BYTES:
        raise InputError(
            f"This thread's images add up to {total / 2**20:.1f} MB, more than one request takes; "
            "refine an earlier turn, or start a new conversation from this image."
        )
    return Refine(request, note)


def earlier_turns(library: Library, lineage: dict) -> tuple[dict, ...]:
    """The conversation a refine sent, rebuilt from its lineage (what "Retry" of that refine sends again): the parent
    image's stored turns as wire turns; () for a refine that started a new conversation. Blocking: call from a worker.
    LibraryError when the parent image or one of its conversation's images is gone."""
    if not isinstance(lineage, dict) or lineage.get("new_conversation") or not lineage.get("parent_generation_id"):
        return ()
    index = lineage.get("parent_image_index")
    try:
        image, record = image_record(
            library, str(lineage["parent_generation_id"]), index if isinstance(index, int) else 0
        )
    except (InputError, OSError):
        raise LibraryError(
            "The image this refine continued is no longer in the library; refine another turn."
        ) from None
    stored = (record or {}).get("conversation")
    if not isinstance(stored, dict) or not isinstance(stored.get("contents"), list):
        raise LibraryError("The conversation of the image this refine continued can no longer be read.")
    file_bytes = Path(image.path).read_bytes()
    return tuple(to_wire(stored["contents"], library, {hashlib.sha256(file_bytes).hexdigest(): file_bytes}))


def _why_new(stored, endpoint_label: str, model_id: str) -> str | None:
    start = " A new conversation starts with the image as a reference."
    if not isinstance(stored, dict) or not isinstance(stored.get("contents"), list) or not stored["contents"]:
        return "This image has no conversation to continue (an Imagen or imported image)." + start
    if stored.get("endpoint") != endpoint_label:
        return f"This image's conversation was held on another endpoint ({stored.get('endpoint')})." + start
    if stored.get("model") != model_id:
        return f"This image's conversation was held with another model ({stored.get('model')})." + start
    return None


SIGNATURE_REFUSAL = ("thought_signature", "thought signature", "thoughtsignature")


def explain(result: GenerationResult) -> GenerationResult:
    """A refusal of the conversation's signatures, said in plain words (the server's own sentence kept after it)."""
    reason = result.reason or ""
    if str(result.error_kind) == "signature":  # the client's classifier said it already
        return result
    if result.status == "error" and any(word in reason.lower() for word in SIGNATURE_REFUSAL):
        result.reason = (
            "The server refused to continue this conversation: it checks a signature on each of the model's earlier "
            "answers, and one was missing or changed. Refine from another turn, or start a new conversation from "
            "this image. " + reason
        )
    return result


def conversation_bytes(request: GenerationRequest) -> int:
    total = 0
    for turn in request.conversation:
        for part in turn.get("parts") or []:
            found = _inline(part) if isinstance(part, dict) else None
            if found:
                total += len(found[1].get("data") or "") * 3 // 4
    return total


def input_images(request: GenerationRequest) -> int:
    count = len(request.references)
    for turn in request.conversation:
        count += sum(1 for p in turn.get("parts") or [] if isinstance(p, dict) and _inline(p))
    return count


def estimate(request: GenerationRequest, model: ModelInfo) -> dict:
    """Before sending: input grows with the turns (every earlier image goes again, ~560 tokens each at least).

    {input_images, input_tokens, output_cost_usd, cost_usd}: output_cost_usd is the catalog's price for one image,
    cost_usd pricing.estimate_job's whole estimate with every earlier-turn image priced as input (None: unknown)."""
    texts = [request.prompt] + [
        str(p.get("text"))
        for t in request.conversation
        for p in t.get("parts") or []
        if isinstance(p, dict) and "text" in p
    ]
    images = input_images(request)
    tokens = sum(len(t) for t in texts) // 4 + images * INPUT_TOKENS_PER_IMAGE
    earlier = images - len(request.references)
    return {
        "input_images": images,
        "input_tokens": tokens,
        "output_cost_usd": model.estimate_cost(1, request.size),
        "cost_usd": pricing.estimate_job(request.model, 1, request.size, len(request.references), earlier),
    }
