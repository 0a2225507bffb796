"""Typed events: what a running generation tells its caller, and what the job queue tells its observers.

A generation reports through one callback taking one of the `GenerationEvent`s; the job queue wraps each in a
`JobEvent` (services.jobs) for its observers (the window's controller turns those into Qt signals).
Nobody matches strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.types import GenerationResult, SavedImage


@dataclass(frozen=True)
class Started:
    generation_id: str
    created_at: float | None = None  # as the library records it (the gallery orders and groups by it)


@dataclass(frozen=True)
class Retrying:
    attempt: int
    delay: float  # seconds until the next attempt
    message: str


@dataclass(frozen=True)
class Thought:
    """A thought summary the model streamed while it works: shown as a status line, never saved as a result."""

    index: int  # which image of the job (one request per image on Gemini)
    text: str


@dataclass(frozen=True)
class Draft:
    """An interim image the model streamed while it works (`thought: true`); replaced by the final image."""

    index: int
    data: bytes
    mime_type: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageSaved:
    image: SavedImage


@dataclass(frozen=True)
class Finished:
    result: GenerationResult


GenerationEvent = Started | Retrying | Thought | Draft | ImageSaved | Finished
