"""The models Atelier knows (resources/models.json), merged with what an endpoint says it serves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

GEMINI_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# The model a new user starts on, and the one that replaces a model that takes no reference images: live and not
# deprecated on Google's endpoint (Google's own default for new projects).
DEFAULT_MODEL = "gemini-nano-banana-2.1"
IMAGEN_ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")


@dataclass(frozen=True)
class ModelInfo:
    id: str
    display_name: str
    family: str  # gemini or imagen
    protocol: str  # generateContent or predict
    aspect_ratios: tuple[str, ...]
    sizes: tuple[str, ...]
    default_size: str | None
    max_count: int
    max_per_request: int
    max_reference_images: int
    takes_seed: bool
    takes_person_generation: bool
    price_usd: dict = field(default_factory=dict, compare=False)
    usd_per_million_image_tokens: float | None = None
    prompt_token_limit: int | None = None
    image_tokens: dict = field(default_factory=dict, compare=False)  # output tokens per image, by size ("": any)
    thinking_levels: tuple[str, ...] = ()
    google_status: str = "unknown"  # live, deprecated (still served), retired (shut down), unknown
    retired_on: str | None = None
    deprecated_on: str | None = None
    replacement: str | None = None
    known: bool = True  # described in resources/models.json
    served: bool | None = None  # what the current endpoint's discovery said; None: not asked

    @property
    def thinks(self) -> bool:
        """Sends thought summaries and interim images when asked (thinkingConfig.includeThoughts)."""
        return bool(self.thinking_levels)

    def price_per_image(self, size: str | None) -> float | None:
        if not self.price_usd:
            return None
        if size in self.price_usd:
            return self.price_usd[size]
        if "" in self.price_usd:
            return self.price_usd[""]
        return max(self.price_usd.values())

    def image_tokens_for(self, size: str | None) -> int | None:
        """Output tokens one image of this size is billed as; None when the catalog does not know."""
        if not self.image_tokens:
            return None
        if size in self.image_tokens:
            return self.image_tokens[size]
        if size == "0.5K" and "512" in self.image_tokens:
            return self.image_tokens["512"]
        return self.image_tokens.get("") or self.image_tokens.get(self.default_size or "1K")

    def estimate_cost(self, count: int, size: str | None) -> float | None:
        price = self.price_per_image(size)
        return None if price is None else round(price * count, 4)

    def available_on(self, endpoint_name: str) -> bool:
        """False when this endpoint is known not to serve the model."""
        if self.served is not None:
            return self.served
        return not (endpoint_name == "google" and self.google_status == "retired")

    def retirement_note(self) -> str | None:
        if self.google_status == "deprecated":
            since = f" since {self.deprecated_on}" if self.deprecated_on else ""
            note = f"{self.id} is deprecated on Google's endpoint{since}: it still works but will be shut down"
            return note + (f"; consider {self.replacement}." if self.replacement else ".")
        if self.google_status != "retired":
            return None
        note = f"{self.id} was shut down on Google's endpoint"
        if self.retired_on:
            note += f" on {self.retired_on}"
        if self.replacement:
            note += f"; Google's replacement is {self.replacement}"
        return note + "."


def _from_dict(d: dict) -> ModelInfo:
    return ModelInfo(
        id=d["id"],
        display_name=d.get("display_name", d["id"]),
        family=d["family"],
        protocol=d["protocol"],
        aspect_ratios=tuple(d.get("aspect_ratios", ())),
        sizes=tuple(d.get("sizes", ())),
        default_size=d.get("default_size"),
        max_count=int(d.get("max_count", 4)),
        max_per_request=int(d.get("max_per_request", 1)),
        max_reference_images=int(d.get("max_reference_images", 0)),
        takes_seed=bool(d.get("takes_seed", False)),
        takes_person_generation=bool(d.get("takes_person_generation", False)),
        price_usd=dict(d.get("price_usd", {})),
        usd_per_million_image_tokens=d.get("usd_per_million_image_tokens"),
        prompt_token_limit=d.get("prompt_token_limit"),
        image_tokens=dict(d.get("image_tokens", {})),
        thinking_levels=tuple(d.get("thinking_levels", ())),
        google_status=d.get("google_status", "unknown"),
        retired_on=d.get("retired_on"),
        deprecated_on=d.get("deprecated_on"),
        replacement=d.get("replacement"),
    )


def unknown_model(model_id: str, protocol: str, display_name: str | None = None) -> ModelInfo:
    """A model the catalog does not describe: permissive limits, the server has the last word."""
    gemini = protocol == "generateContent"
    return ModelInfo(
        id=model_id,
        display_name=display_name or model_id,
        family="gemini" if gemini else "imagen",
        protocol=protocol,
        aspect_ratios=GEMINI_ASPECT_RATIOS if gemini else IMAGEN_ASPECT_RATIOS,
        sizes=("1K", "2K", "4K") if gemini else ("1K", "2K"),
        default_size=None,
        max_count=4,
        max_per_request=1 if gemini else 4,
        max_reference_images=14 if gemini else 0,
        takes_seed=gemini,
        takes_person_generation=not gemini,
        known=False,
    )


def protocol_from_methods(methods: list[str]) -> str | None:
    if "generateContent" in methods:
        return "generateContent"
    if "predict" in methods:
        return "predict"
    return None


def guess_protocol(model_id: str) -> str:
    return "predict" if model_id.startswith("imagen") else "generateContent"


class Catalog:
    def __init__(self, models: list[ModelInfo], retired_ids: dict[str, ModelInfo] | None = None):
        self._models = {m.id: m for m in models}
        # Ids shut down everywhere (the 3.x -preview ids): known, so a saved setting or an old image gets a useful
        # note, but never offered in a list.
        self._retired_ids = dict(retired_ids or {})

    @classmethod
    def load(cls) -> Catalog:
        from importlib import resources  # ~7 ms to import: not before the window's first paint

        text = resources.files("resources").joinpath("models.json").read_text(encoding="utf-8")
        data = json.loads(text)
        models = [_from_dict(d) for d in data["models"]]
        by_id = {m.id: m for m in models}
        retired = {}
        for entry in data.get("retired_ids", []):
            like = by_id[entry["like"]]
            retired[entry["id"]] = replace(
                like,
                id=entry["id"],
                display_name=f"{like.display_name} preview",
                google_status="retired",
                retired_on=entry.get("retired_on"),
                deprecated_on=None,
                replacement=entry.get("replacement"),
            )
        return cls(models, retired)

    def models(self) -> list[ModelInfo]:
        return list(self._models.values())

    def get(self, model_id: str) -> ModelInfo | None:
        return self._models.get(model_id) or self._retired_ids.get(model_id)

    def resolve(self, model_id: str, protocol: str | None = None) -> ModelInfo:
        """The catalog entry, or a permissive description of an unknown id (protocol given or guessed)."""
        model = self.get(model_id)
        if model is not None:
            return model if protocol in (None, model.protocol) else replace(model, protocol=protocol)
        return unknown_model(model_id, protocol or guess_protocol(model_id))

    def merged_with_discovery(self, discovered: list[dict]) -> Catalog:
        """Marks what the endpoint serves; adds image models it serves that the catalog does not know.

        `discovered` holds the raw `models` entries of GET /v1beta/models (all pages).
        """
        served: dict[str, dict] = {}
        for entry in discovered:
            name = str(entry.get("name", ""))
            model_id = name.removeprefix("models/")
            if model_id:
                served[model_id] = entry
        merged = []
        for model in self._models.values():
            merged.append(replace(model, served=model.id in served))
        for model_id, entry in served.items():
            if model_id in self._models:
                continue
            if model_id in self._retired_ids:
                merged.append(replace(self._retired_ids[model_id], served=True))
                continue
            methods = entry.get("supportedGenerationMethods") or entry.get("supported_generation_methods") or []
            protocol = protocol_from_methods(list(methods))
            looks_like_images = "image" in model_id or model_id.startswith("imagen")
            if protocol == "predict" or (protocol and looks_like_images):
                display = entry.get("displayName") or entry.get("display_name")
                merged.append(replace(unknown_model(model_id, protocol, display), served=True))
        return Catalog(merged, self._retired_ids)
