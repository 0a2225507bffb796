"""From a GenerationRequest to saved images: validate, send (in parallel where the protocol needs it), save as
each answer arrives, and record the attempt whatever happens."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from services import conversation, protocol
from services.catalog import Catalog, ModelInfo
from services.client import GeminiClient, RetryPolicy
from services.endpoints import Endpoint
from services.errors import ApiError, AtelierError, InputError, LibraryError, NetworkError
from services.events import Finished, GenerationEvent, ImageSaved, Retrying, Started
from services.imaging import SUPPORTED_REFERENCE_TYPES, sniff_mime
from services.library import Library
from services.types import GenerationRequest, GenerationResult, ParsedResponse, ReferenceImage, SavedImage, Usage

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MAX_INLINE_REQUEST_BYTES = 20 * 1024 * 1024  # the API's limit for a whole inline request
MAX_REFERENCE_BYTES = (MAX_INLINE_REQUEST_BYTES * 3) // 4 - 64 * 1024  # base64 grows data by 4/3
MAX_PROMPT_CHARS = 50_000
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
EventCallback = Callable[[GenerationEvent], None]


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


@dataclass
class _Collected:
    parsed: list[ParsedResponse]
    errors: list[AtelierError]
    attempts: int = 0


class GenerationService:
    """Runs one generation job end to end. Shared by the CLI, the window's job queue and the benchmarks."""

    def __init__(
        self,
        catalog: Catalog,
        library: Library,
        *,
        http: httpx.AsyncClient | None = None,
        max_parallel: int = 4,
        retry: RetryPolicy | None = None,
    ):
        self.catalog = catalog
        self.library = library
        self.http = http
        self.retry = retry
        # Concurrency stays below the HTTP pool's size: cancelling a request that waits for a pool slot can leak it.
        self._slots = asyncio.Semaphore(max_parallel)

    def set_max_parallel(self, value: int) -> None:
        self._slots = asyncio.Semaphore(max(1, min(8, value)))

    def model_for(self, request: GenerationRequest) -> ModelInfo:
        return self.catalog.resolve(request.model, request.protocol)

    async def generate(
        self,
        request: GenerationRequest,
        *,
        endpoint: Endpoint,
        key: str | None,
        timeout: float = 120.0,
        on_event: EventCallback | None = None,
    ) -> GenerationResult:
        """Validates (InputError before anything is sent or recorded), then always returns a recorded result."""
        emit = on_event or (lambda event: None)
        model = self.model_for(request)
        request = validate(request, model)
        if endpoint.needs_key and not key:
            raise InputError(
                "No API key for this endpoint. Set GEMINI_API_KEY, store a key in Settings "
                "(or `python main.py key set`), or use the offline demo endpoint (--endpoint demo)."
            )
        await asyncio.to_thread(self.library.check_writable)
        created = time.time()
        gid = await asyncio.to_thread(
            self.library.begin, request, endpoint=endpoint.label, protocol=model.protocol, created_at=created
        )
        emit(Started(gid))
        client = GeminiClient(endpoint, key, http=self.http, timeout=timeout, retry=self.retry)
        saved: list[SavedImage] = []
        collected = _Collected([], [])
        notes: list[str] = []
        try:
            await self._run_calls(client, request, model, gid, endpoint, created, saved, collected, notes, emit)
        except asyncio.CancelledError:
            result = self._combine(gid, request, model, endpoint, saved, collected, notes)
            result.status = "cancelled" if not saved else "ok"
            result.reason = "Cancelled." if not saved else f"Cancelled after {len(saved)} image(s)."
            await asyncio.shield(asyncio.to_thread(self._finish, result))
            raise
        finally:
            await client.aclose()
        result = self._combine(gid, request, model, endpoint, saved, collected, notes)
        await asyncio.to_thread(self._finish, result)
        emit(Finished(result))
        return result

    async def _run_calls(self, client, request, model, gid, endpoint, created, saved, collected, notes, emit):
        next_index = iter(range(10**6))

        def on_retry(attempt: int, delay: float, error: Exception) -> None:
            emit(Retrying(attempt, delay, str(error)))

        async def one_call(sample_count: int) -> None:
            async with self._slots:
                try:
                    parsed, attempts = await self._call(client, request, model, sample_count, on_retry)
                except (ApiError, NetworkError) as error:
                    collected.errors.append(error)
                    collected.attempts += error.attempts
                    return
            collected.attempts += attempts
            collected.parsed.append(parsed)
            for image in parsed.images:
                if len(saved) >= request.count:
                    notes.append("The server sent more images than asked; the extra ones were not saved.")
                    break
                index = next(next_index)
                try:
                    item = await asyncio.to_thread(
                        conversation.save_image,  # Library.save_image, with the model's turn for a later refine
                        self.library,
                        gid,
                        index,
                        image,
                        parsed.model_turn,
                        request=request,
                        endpoint=endpoint.label,
                        text=parsed.text,
                        created_at=created,
                    )
                except LibraryError as error:
                    collected.errors.append(error)
                    return
                saved.append(item)
                emit(ImageSaved(item))

        if model.protocol == "predict":
            counts = []
            remaining = request.count
            while remaining > 0:
                counts.append(min(model.max_per_request, remaining))
                remaining -= counts[-1]
        else:
            counts = [1] * request.count  # candidateCount must stay 1: N images are N requests
        tasks = [asyncio.ensure_future(one_call(n)) for n in counts]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _call(self, client: GeminiClient, request, model: ModelInfo, sample_count: int, on_retry):
        if model.protocol == "predict":
            body = protocol.predict_body(request, model, sample_count)
            return await client.call_model(
                model.id, "predict", body, protocol.parse_predict, replacement=model.replacement, on_retry=on_retry
            )

        async def send(body: dict):
            return await client.call_model(
                model.id,
                "generateContent",
                body,
                protocol.parse_generate_content,
                replacement=model.replacement,
                on_retry=on_retry,
            )

        try:
            return await send(protocol.generate_content_body(request, model))
        except ApiError as error:
            # The 512 size's spelling is not settled (`"512"` or `"0.5K"`): on a refusal that names the size,
            # ask once more in the other spelling.
            names_size = re.search(r"image.?size|512", error.server_message or "", re.I)
            if request.size == "512" and error.kind == "bad_request" and names_size:
                parsed, attempts = await send(protocol.generate_content_body(request, model, size_spelling="0.5K"))
                return parsed, attempts + error.attempts
            raise

    def _combine(self, gid, request, model: ModelInfo, endpoint: Endpoint, saved, collected: _Collected, notes):
        usage = Usage()
        have_usage = False
        texts = []
        blocked = []
        no_image = []
        for parsed in collected.parsed:
            if parsed.usage:
                usage.add(parsed.usage)
                have_usage = True
            if parsed.text:
                texts.append(parsed.text)
            if parsed.blocked_reason:
                blocked.append(parsed.blocked_reason)
            if parsed.no_image_reason:
                no_image.append(parsed.no_image_reason)
            if parsed.images and parsed.filtered_notes:
                notes.append(f"{len(parsed.filtered_notes)} image(s) were filtered: " + " ".join(parsed.filtered_notes))
            if parsed.images and parsed.dropped:
                notes.append("Some images could not be used: " + "; ".join(parsed.dropped) + ".")
        result = GenerationResult(gid, request.model, "ok", list(saved), "\n".join(dict.fromkeys(texts)))
        result.attempts = collected.attempts
        result.usage = usage if have_usage else None
        error = collected.errors[-1] if collected.errors else None
        if saved:
            result.status = "ok"
            if len(saved) < request.count:
                missing = blocked + no_image + [str(e) for e in collected.errors]
                notes.insert(
                    0, f"{len(saved)} of {request.count} images arrived." + (f" {missing[0]}" if missing else "")
                )
            result.reason = " ".join(dict.fromkeys(notes)) or None
        elif blocked:
            result.status, result.reason = "blocked", blocked[0]
        elif error is not None and not no_image:
            result.status, result.reason = "error", str(error)
            if isinstance(error, ApiError) and error.kind == "blocked_prompt":
                result.status = "blocked"
            result.error = {"http_status": error.http_status, "status": error.status, "message": str(error)}
            result.error_kind = (
                "network"
                if isinstance(error, NetworkError)
                else "library"
                if isinstance(error, LibraryError)
                else "api"
            )
        else:
            result.status = "no_image"
            result.reason = no_image[0] if no_image else "The server returned no image."
        result.cost_usd = self._cost(model, endpoint, request, result, collected)
        return result

    @staticmethod
    def _cost(model: ModelInfo, endpoint: Endpoint, request, result: GenerationResult, collected) -> float | None:
        """Gemini: image output tokens at the model's rate, as billed; else the price per image received."""
        if endpoint.name == "demo":
            return 0.0
        if result.usage and result.usage.image_tokens and model.usd_per_million_image_tokens:
            return round(result.usage.image_tokens * model.usd_per_million_image_tokens / 1e6, 6)
        price = model.price_per_image(request.size)
        images = sum(len(p.images) for p in collected.parsed)
        return None if price is None else round(price * images, 6)

    def _finish(self, result: GenerationResult) -> None:
        try:
            self.library.finish(
                result.generation_id,
                status=result.status,
                reason=result.reason,
                text=result.text,
                error=result.error,
                attempts=result.attempts,
                cost_usd=result.cost_usd,
                usage=result.usage,
            )
        except Exception as exc:  # the images are saved; an index that cannot record the end is rebuilt later
            log.error("could not record the end of %s: %s", result.generation_id, exc)
