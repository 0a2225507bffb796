"""From a GenerationRequest to saved images: validate, send (in parallel where the protocol needs it), save as
each answer arrives, and record the attempt whatever happens."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services import conversation, pricing, protocol
from services.catalog import Catalog, ModelInfo
from services.client import GeminiClient, RetryPolicy
from services.endpoints import Endpoint
from services.errors import ApiError, AtelierError, InputError, LibraryError, NetworkError
from services.events import Draft, Finished, GenerationEvent, ImageSaved, Retrying, Started, Thought
from services.http_pool import client_of
from services.library import Library
from services.parallel import ParallelLimit
from services.status import ErrorKind
from services.types import GenerationRequest, GenerationResult, ParsedResponse, SavedImage, Usage
from services.validation import load_reference, validate  # noqa: F401 (load_reference: re-exported)

if TYPE_CHECKING:
    import httpx

    from services.http_pool import HttpPool
    from services.ledger import Ledger

log = logging.getLogger(__name__)

EventCallback = Callable[[GenerationEvent], None]
SIZE_WORDS = re.compile(r"image.?size|512", re.I)
THINKING_WORDS = re.compile(r"thinking|include.?thoughts", re.I)


def error_kind(error: AtelierError) -> ErrorKind:
    """The ErrorKind of any failure on the generation road."""
    if isinstance(error, LibraryError):
        return error.kind
    if isinstance(error, InputError):
        return ErrorKind.INPUT
    kind = getattr(error, "kind", None)
    return kind if isinstance(kind, ErrorKind) else ErrorKind.BUG


@dataclass
class _Collected:
    parsed: list[ParsedResponse]
    errors: list[AtelierError]
    attempts: int = 0
    reserved: int = 0  # images promised a place among the `count` asked, saved or being saved


class GenerationService:
    """Runs one generation job end to end. Shared by the CLI, the window's job queue and the benchmarks."""

    def __init__(
        self,
        catalog: Catalog,
        library: Library,
        *,
        http: httpx.AsyncClient | HttpPool | None = None,
        max_parallel: int = 4,
        retry: RetryPolicy | None = None,
        stream: bool = True,
        ledger: Ledger | None = None,
    ):
        """`stream`: ask Gemini models through `:streamGenerateContent` (thoughts and drafts arrive as events; an
        endpoint that has no such method falls back to `:generateContent`, remembered per endpoint).
        `ledger`: where every billed attempt is counted, and whose budgets refuse a job before it is sent."""
        self.catalog = catalog
        self.library = library
        self.http = http
        self.retry = retry
        self.stream = stream
        self.ledger = ledger
        self._on_the_way: dict[str, float] = {}  # estimated cost of jobs sent and not yet counted, by endpoint
        # Concurrency stays below the HTTP pool's size: cancelling a request that waits for a pool slot can leak it.
        self._slots = ParallelLimit(max(1, min(8, max_parallel)))

    def set_max_parallel(self, value: int) -> None:
        """Safe while calls run: they finish on their slots; the new limit holds for the calls that start next."""
        self._slots.set_limit(max(1, min(8, value)))

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
        spend_key, estimate = await self._check_budget(request, model, endpoint)
        try:
            return await self._generate(request, model, endpoint, key, timeout, emit)
        finally:
            if estimate:
                self._on_the_way[spend_key] -= estimate

    async def _check_budget(self, request: GenerationRequest, model: ModelInfo, endpoint: Endpoint):
        """Raises BudgetError (nothing sent, nothing recorded) when the job would cross a cap; else reserves its
        estimate until it is counted, so jobs started side by side cannot cross a cap together."""
        from services.ledger import FREE_ENDPOINTS, endpoint_key

        spend_key = endpoint_key(endpoint)
        if self.ledger is None or spend_key in FREE_ENDPOINTS:
            return spend_key, None
        earlier = sum(  # a refine sends every earlier image of its conversation again
            1
            for turn in request.conversation
            for part in turn.get("parts", ())
            if {"inlineData", "inline_data"} & set(part)
        )
        estimate = pricing.estimate_job(model.id, request.count, request.size, len(request.references), earlier)
        pending = dict(self._on_the_way)
        await asyncio.to_thread(self.ledger.check, spend_key, estimate, None, pending)
        if estimate:
            self._on_the_way[spend_key] = self._on_the_way.get(spend_key, 0.0) + estimate
        return spend_key, estimate

    async def _generate(self, request, model: ModelInfo, endpoint: Endpoint, key, timeout, emit) -> GenerationResult:
        created = time.time()
        gid = await asyncio.to_thread(
            self.library.begin, request, endpoint=endpoint.label, protocol=model.protocol, created_at=created
        )
        emit(Started(gid, created))
        client = GeminiClient(endpoint, key, http=client_of(self.http, endpoint), timeout=timeout, retry=self.retry)
        saved: list[SavedImage] = []
        collected = _Collected([], [])
        notes: list[str] = []
        try:
            await self._run_calls(client, request, model, gid, endpoint, created, saved, collected, notes, emit)
        except asyncio.CancelledError:
            result = self._combine(gid, request, model, endpoint, saved, collected, notes)
            result.status = "cancelled" if not saved else "ok"
            result.reason = "Cancelled." if not saved else f"Cancelled after {len(saved)} image(s)."
            await asyncio.shield(asyncio.to_thread(self._finish, result, request, endpoint))
            raise
        finally:
            await client.aclose()
        result = self._combine(gid, request, model, endpoint, saved, collected, notes)
        await asyncio.to_thread(self._finish, result, request, endpoint)
        emit(Finished(result))
        return result

    async def _run_calls(self, client, request, model, gid, endpoint, created, saved, collected, notes, emit):
        next_index = iter(range(10**6))

        def on_retry(attempt: int, delay: float, error: Exception) -> None:
            emit(Retrying(attempt, delay, str(error)))

        async def one_call(call_index: int, sample_count: int) -> None:
            def on_thought(text: str) -> None:
                emit(Thought(call_index, text))

            def on_draft(image) -> None:
                emit(Draft(call_index, image.data, image.mime_type, image.width, image.height))

            async with self._slots:
                try:
                    parsed, attempts = await self._call(
                        client, request, model, sample_count, on_retry, on_thought, on_draft
                    )
                except (ApiError, NetworkError) as error:
                    collected.errors.append(error)
                    collected.attempts += error.attempts
                    return
            collected.attempts += attempts
            collected.parsed.append(parsed)
            for image in parsed.images:
                # The place is taken before the first await: parallel calls that each bring extra images must not
                # all pass this check before any of them has saved (#11 item 5).
                if collected.reserved >= request.count:
                    notes.append("The server sent more images than asked; the extra ones were not saved.")
                    break
                collected.reserved += 1
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
                    collected.reserved -= 1
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
        tasks = [asyncio.ensure_future(one_call(i, n)) for i, n in enumerate(counts)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _call(
        self, client: GeminiClient, request, model: ModelInfo, sample_count, on_retry, on_thought, on_draft
    ):
        retired = model.google_status == "retired"
        about = dict(replacement=model.replacement, retired=retired, on_retry=on_retry)
        if model.protocol == "predict":
            body = protocol.predict_body(request, model, sample_count)
            return await client.call_model(model.id, "predict", body, protocol.parse_predict, **about)

        async def send(size_spelling: str | None = None, thoughts: bool = model.thinks):
            plain = protocol.generate_content_body(request, model, size_spelling)
            if not self.stream:
                return await client.call_model(
                    model.id, "generateContent", plain, protocol.parse_generate_content, **about
                )
            # Thought summaries and drafts are asked only of models the catalog knows to think: an unknown model
            # might refuse the field.
            streamed = protocol.generate_content_body(request, model, size_spelling, include_thoughts=thoughts)
            return await client.stream_content(
                model.id,
                streamed,
                plain,
                protocol.parse_generate_content,
                on_thought=on_thought,
                on_draft=on_draft,
                **about,
            )

        spelling = None
        attempts_before = 0
        thoughts = model.thinks
        while True:  # each refusal below is answered at most once
            try:
                parsed, attempts = await send(spelling, thoughts)
                return parsed, attempts + attempts_before
            except ApiError as error:
                refused = error.kind == ErrorKind.BAD_REQUEST and (error.server_message or "")
                # The 512 size's spelling is not settled (`"512"` or `"0.5K"`): on a refusal that names the size,
                # ask once more in the other spelling.
                if refused and request.size == "512" and spelling is None and SIZE_WORDS.search(refused):
                    spelling = "0.5K"
                # An endpoint that refuses to send thoughts still makes the image: ask without them.
                elif refused and thoughts and THINKING_WORDS.search(refused):
                    thoughts = False
                else:
                    error.attempts += attempts_before
                    raise
                attempts_before += error.attempts

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
            if isinstance(error, ApiError) and error.kind == ErrorKind.BLOCKED_PROMPT:
                result.status = "blocked"
            result.error_kind = error_kind(error)
            result.error = {
                "http_status": error.http_status,
                "status": error.status,
                "message": str(error),
                "kind": str(result.error_kind),
            }
            resume_at = getattr(error, "resume_at", None)
            if resume_at is not None:
                result.error["resume_at"] = resume_at
                result.resume_at = resume_at
        else:
            result.status = "no_image"
            result.reason = no_image[0] if no_image else "The server returned no image."
        result.cost_usd = self._cost(model, endpoint, request, result, collected)
        return result

    @staticmethod
    def _cost(model: ModelInfo, endpoint: Endpoint, request, result: GenerationResult, collected) -> float | None:
        """What the attempt costs, from the server's usage (services/pricing.py); the demo is free."""
        if endpoint.name == "demo":
            return 0.0
        images = sum(len(p.images) for p in collected.parsed)
        return pricing.cost_from_usage(model.id, result.usage, images=images, size=request.size)[0]

    def _finish(self, result: GenerationResult, request: GenerationRequest, endpoint: Endpoint) -> None:
        self._count_spending(result, request, endpoint)
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

    def _count_spending(self, result: GenerationResult, request: GenerationRequest, endpoint: Endpoint) -> None:
        if self.ledger is None:
            return
        from services.ledger import endpoint_key
        from services.spending import billed_record

        record = billed_record(result, library=self.library.root, endpoint=endpoint_key(endpoint), size=request.size)
        if record is None:
            return
        try:
            self.ledger.record(record)
        except Exception as exc:  # the attempt is in the library; its cost can be counted again from there
            log.error("could not count the cost of %s: %s", result.generation_id, exc)
