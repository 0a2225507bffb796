"""Checks on a GenerationRequest before anything is sent: the prompt, the model's limits, the reference files."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from services.catalog import ModelInfo
from services.errors import InputError
from services.imaging import SUPPORTED_REFERENCE_TYPES, sniff_mime
from services.types import GenerationRequest, ReferenceImage

MAX_INLINE_REQUEST_BYTES = 20 * 1024 * 1024  # the API's limit for a whole inline request
MAX_REFERENCE_BYTES = (MAX_INLINE_REQUEST_BYTES * 3) // 4 - 64 * 1024  # base64 grows data by 4/3
MAX_PROMPT_CHARS = 50_000
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def estimate_tokens(prompt: str) -> int:
    """A conservative token estimate: ~4 characters or one word per token, whichever is more."""
    return max(len(prompt.encode("utf-8")) // 4, len(prompt.split()))


def load_reference(path: str | Path) -> ReferenceImage:
    """Reads a reference image file, checking it exists, is not too big, and is a type the API takes."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"The reference image {path} does not exist.") from None
    except OSError as exc:
        raise InputError(f"The reference image {path} cannot be read: {exc.strerror or exc}.") from None
    if not path.is_file():
        raise InputError(f"The reference image {path} is not a file.")
    if size > MAX_REFERENCE_BYTES:
        raise InputError(
            f"The reference image {path.name} is {size / 2**20:.1f} MB; the API takes at most "
            f"{MAX_REFERENCE_BYTES / 2**20:.0f} MB of reference images in one request."
        )
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_REFERENCE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"The reference image {path} cannot be read: {exc.strerror or exc}.") from None
    mime = sniff_mime(data)
    if mime not in SUPPORTED_REFERENCE_TYPES:
        raise InputError(f"The reference image {path.name} is not a PNG, JPEG, WebP, HEIC or HEIF image.")
    return ReferenceImage(str(path.resolve()), mime, data)


def validate(request: GenerationRequest, model: ModelInfo) -> GenerationRequest:
    """The request as it will be sent, or InputError naming the limit it breaks. Nothing is sent before this."""
    prompt = request.prompt.strip() if isinstance(request.prompt, str) else ""
    if not prompt:
        raise InputError("The prompt is empty: describe the image you want.")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"The prompt contains bytes that are not valid UTF-8 text (at character {exc.start + 1}); "
            "save it as UTF-8 and try again."
        ) from None
    if "\x00" in prompt:
        raise InputError("The prompt contains a NUL character; remove it and try again.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(f"The prompt is {len(prompt):,} characters long; the limit is {MAX_PROMPT_CHARS:,}.")
    if model.prompt_token_limit and estimate_tokens(prompt) > model.prompt_token_limit:
        raise InputError(
            f"The prompt is too long for {model.id}: about {estimate_tokens(prompt)} tokens, and the model takes "
            f"at most {model.prompt_token_limit} (roughly {model.prompt_token_limit * 4:,} characters)."
        )
    if not MODEL_ID.match(request.model or ""):
        raise InputError(f"{request.model!r} is not a model id (letters, digits, '.', '-' and '_' only).")
    if not isinstance(request.count, int) or not 1 <= request.count <= model.max_count:
        raise InputError(f"{model.id} makes 1 to {model.max_count} images per job; {request.count!r} was asked.")
    if request.aspect_ratio and request.aspect_ratio not in model.aspect_ratios:
        raise InputError(
            f"{model.id} does not take the aspect ratio {request.aspect_ratio}; it takes "
            f"{', '.join(model.aspect_ratios)}."
        )
    size = request.size
    if size:
        size = size.strip().upper() if size.strip().upper().endswith("K") else size.strip()
        if not model.sizes:
            raise InputError(f"{model.id} has no size setting; leave the size out.")
        if size not in model.sizes:
            raise InputError(f"{model.id} does not make {size} images; it makes {', '.join(model.sizes)}.")
    refs = request.references
    if refs:
        if model.max_reference_images == 0:
            raise InputError(f"{model.id} does not take reference images.")
        if len(refs) > model.max_reference_images:
            raise InputError(
                f"{model.id} takes at most {model.max_reference_images} reference images; {len(refs)} were given."
            )
        total = sum(len(r.data) for r in refs)
        if total > MAX_REFERENCE_BYTES:
            raise InputError(
                f"The reference images add up to {total / 2**20:.1f} MB; one request takes at most "
                f"{MAX_REFERENCE_BYTES / 2**20:.0f} MB."
            )
        for ref in refs:
            if ref.mime_type not in SUPPORTED_REFERENCE_TYPES:
                raise InputError(f"The reference image {Path(ref.path).name} is not a type the API takes.")
    seed = request.seed
    if seed is not None:
        if not model.takes_seed:
            raise InputError(f"{model.id} does not take a seed on this API.")
        if not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
            raise InputError(f"The seed must be a whole number from 0 to {2**31 - 1}.")
    person = request.person_generation
    if person is not None:
        if not model.takes_person_generation:
            person = None  # a setting carried over from an Imagen job; the Gemini models have no such parameter
        elif person not in PERSON_GENERATION:
            raise InputError(f"Person generation must be one of {', '.join(PERSON_GENERATION)}.")
    return replace(request, prompt=prompt, size=size or None, person_generation=person, protocol=model.protocol)
