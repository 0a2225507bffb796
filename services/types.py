"""Plain values that travel between the editor, the protocols, the library and the command line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from services.status import ErrorKind


@dataclass(frozen=True)
class ReferenceImage:
    path: str
    mime_type: str
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def record(self) -> dict:
        return {"path": self.path, "mime_type": self.mime_type, "sha256": self.sha256, "bytes": len(self.data)}


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    model: str
    count: int = 1
    aspect_ratio: str | None = None
    size: str | None = None
    references: tuple[ReferenceImage, ...] = ()
    seed: int | None = None
    person_generation: str | None = None
    protocol: str | None = None  # for a model the catalog does not know; else the catalog's
    # A refine: the earlier turns as sent on the wire (services/conversation.py builds them), and where they come from
    # ({parent_generation_id, parent_image_index, thread_id}). Never in record() as bytes.
    conversation: tuple[dict, ...] = field(default=(), repr=False, compare=False)
    lineage: dict | None = field(default=None, compare=False)

    def record(self) -> dict:
        """What made the image, as stored in the library and in the file (never a key, never image bytes)."""
        record = {
            "prompt": self.prompt,
            "model": self.model,
            "count": self.count,
            "aspect_ratio": self.aspect_ratio,
            "size": self.size,
            "seed": self.seed,
            "person_generation": self.person_generation,
            "references": [r.record() for r in self.references],
        }
        if self.protocol:
            record["protocol"] = self.protocol
        if self.lineage:
            record["lineage"] = dict(self.lineage)
        return record


@dataclass
class ReceivedImage:
    data: bytes = field(repr=False)
    mime_type: str  # what the bytes are (sniffed)
    width: int
    height: int
    declared_mime_type: str | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0  # input: text, reference and earlier-turn images
    output_tokens: int = 0  # candidatesTokenCount: output text + output image
    image_tokens: int = 0  # output image tokens
    text_tokens: int = 0  # output text tokens (0 when the server gave no TEXT detail)
    thoughts_tokens: int = 0  # thinking, counted apart from the output by the server, billed as output text

    def add(self, other: Usage | None) -> None:
        if other:
            self.prompt_tokens += other.prompt_tokens
            self.output_tokens += other.output_tokens
            self.image_tokens += other.image_tokens
            self.text_tokens += other.text_tokens
            self.thoughts_tokens += other.thoughts_tokens

    def as_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "image_tokens": self.image_tokens,
            "text_tokens": self.text_tokens,
            "thoughts_tokens": self.thoughts_tokens,
        }


@dataclass
class ParsedResponse:
    """One HTTP response, read: images, the model's words, and why there is no image where there is none."""

    images: list[ReceivedImage] = field(default_factory=list)
    text: str = ""
    blocked_reason: str | None = None  # a sentence; set when the server refused on safety grounds
    no_image_reason: str | None = None  # a sentence; set when it answered without an image for another reason
    filtered_notes: list[str] = field(default_factory=list)  # Imagen: some images filtered
    dropped: list[str] = field(default_factory=list)  # parts we refused (bad base64, not an image, too big)
    usage: Usage | None = None
    model_version: str | None = None
    model_turn: dict | None = (
        None  # generateContent: candidates[0].content exactly as received (a refine sends it back)
    )


@dataclass
class SavedImage:
    image_id: int
    generation_id: str
    index: int
    path: str  # absolute
    width: int
    height: int
    mime_type: str
    sha256: str
    thumbnail: str | None = None

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "mime_type": self.mime_type,
            "sha256": self.sha256,
        }


@dataclass
class GenerationResult:
    generation_id: str
    model: str
    status: str  # ok, blocked, no_image, error, cancelled
    images: list[SavedImage] = field(default_factory=list)
    text: str = ""
    reason: str | None = None
    error: dict | None = None  # {http_status, status, message, kind[, resume_at]}
    error_kind: ErrorKind | None = None  # chosen where the failure was parsed
    resume_at: float | None = None  # DAILY_QUOTA: epoch seconds when the quota resets (midnight Pacific)
    attempts: int = 0
    cost_usd: float | None = None
    usage: Usage | None = None

    def as_json(self) -> dict:
        return {
            "status": self.status,
            "generation_id": self.generation_id,
            "model": self.model,
            "images": [i.as_json() for i in self.images],
            "text": self.text,
            "reason": self.reason,
            "error": self.error,
            "attempts": self.attempts,
            "cost_usd": self.cost_usd,
        }
