"""What an image costs: per-model prices, the server's usage turned into dollars, and the estimate shown before sending.

Facts from shared/gemini-api.md (checked 2026-11-23):
- per-image prices by size, and image tokens per output image by size, for the Gemini image models;
- Imagen is billed per image; input images cost about 560 input tokens each; batch mode costs 50%.
The per-token image price is derived below from those two tables, not copied from anywhere.
Input-token and output-text-token prices are NOT in our notes: they stay None ("price unknown") until someone
fills them in from Google's pricing page; until then a cost counts only the priced parts (image tokens, or images).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.types import Usage

BATCH_FACTOR = 0.5
INPUT_IMAGE_TOKENS = 560  # per reference or earlier-turn image sent back

# USD per output image, by size ("" = the model takes no size).
IMAGE_PRICES: dict[str, dict[str, float]] = {
    "gemini-3.1-flash-image": {"512": 0.045, "1K": 0.067, "2K": 0.101, "4K": 0.151},
    "gemini-3-pro-image": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
    "gemini-2.5-flash-image": {"": 0.039},
    "gemini-2.5-flash-image-preview": {"": 0.039},
    "imagen-4.0-generate-001": {"": 0.04},
    "imagen-4.0-ultra-generate-001": {"": 0.06},
    "imagen-4.0-fast-generate-001": {"": 0.02},
}

# Image tokens per output image, by size (Gemini models only; 3.1 Flash's figures are marked (?) in our notes).
IMAGE_TOKENS: dict[str, dict[str, int]] = {
    "gemini-3.1-flash-image": {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520},
    "gemini-3-pro-image": {"1K": 1120, "2K": 1120, "4K": 2000},
    "gemini-2.5-flash-image": {"": 1290},
    "gemini-2.5-flash-image-preview": {"": 1290},
}

# USD per million tokens we know from our notes; None = not in our notes.
INPUT_PRICES: dict[str, float | None] = {}
OUTPUT_TEXT_PRICES: dict[str, float | None] = {}


def derive_image_token_price(prices: dict[str, float], tokens: dict[str, int]) -> float:
    """USD per million image tokens: Google's per-image prices are that rate times the token count, rounded to a
    tenth of a cent; the rate is a whole number of dollars. Take the mean ratio, round it, and check it reproduces
    every listed price (a table that does not fit raises, so a typo cannot slip through)."""
    ratios = [prices[size] / tokens[size] * 1e6 for size in prices]
    rate = float(round(sum(ratios) / len(ratios)))
    for size, price in prices.items():
        if abs(tokens[size] * rate / 1e6 - price) > 0.0005:
            raise ValueError(f"{rate} $/M image tokens does not reproduce {price} for size {size!r}")
    return rate


@dataclass(frozen=True)
class ModelPrice:
    model: str
    per_token: bool  # Gemini: billed by tokens; Imagen: by image
    image_prices: dict[str, float]  # USD per output image by size
    image_tokens: dict[str, int]  # tokens per output image by size (per_token models)
    output_image: float | None  # USD per million image tokens
    input: float | None = None  # USD per million input tokens (text and images)
    output_text: float | None = None  # USD per million output text and thinking tokens

    def size_key(self, size: str | None) -> str | None:
        size = {"0.5K": "512"}.get(size or "", size or "")
        table = self.image_prices
        if size in table:
            return size
        if "" in table:
            return ""
        if not size and "1K" in table:
            return "1K"  # the 3.x models' default
        return None

    def price_per_image(self, size: str | None) -> float | None:
        key = self.size_key(size)
        return None if key is None else self.image_prices[key]

    def tokens_per_image(self, size: str | None) -> int | None:
        key = self.size_key(size)
        return None if key is None else self.image_tokens.get(key)


def _build() -> dict[str, ModelPrice]:
    table = {}
    for model, prices in IMAGE_PRICES.items():
        tokens = IMAGE_TOKENS.get(model, {})
        table[model] = ModelPrice(
            model=model,
            per_token=bool(tokens),
            image_prices=prices,
            image_tokens=tokens,
            output_image=derive_image_token_price(prices, tokens) if tokens else None,
            input=INPUT_PRICES.get(model),
            output_text=OUTPUT_TEXT_PRICES.get(model),
        )
    return table


PRICES: dict[str, ModelPrice] = _build()


def price_for(model: str) -> ModelPrice | None:
    """None: the price of this model is unknown (not in our notes); never guessed from a similar name."""
    return PRICES.get(model.removeprefix("models/"))


def usage_from_metadata(body_or_meta: dict | None) -> Usage | None:
    """All the token counts billing needs, from a response body or its `usageMetadata` (camelCase or snake_case).

    `candidatesTokenCount` holds the output text and image tokens; `thoughtsTokenCount` is counted apart by the
    server and billed as output text.
    """
    if not isinstance(body_or_meta, dict):
        return None
    meta = _get(body_or_meta, "usageMetadata")
    if meta is None:
        meta = body_or_meta if _get(body_or_meta, "promptTokenCount") is not None else None
    if not isinstance(meta, dict):
        return None
    usage = Usage(
        prompt_tokens=_int(_get(meta, "promptTokenCount")),
        output_tokens=_int(_get(meta, "candidatesTokenCount")),
        thoughts_tokens=_int(_get(meta, "thoughtsTokenCount")),
    )
    text_detail = False
    for detail in _get(meta, "candidatesTokensDetails") or []:
        if not isinstance(detail, dict):
            continue
        modality = _get(detail, "modality")
        if modality == "IMAGE":
            usage.image_tokens += _int(_get(detail, "tokenCount"))
        elif modality == "TEXT":
            usage.text_tokens += _int(_get(detail, "tokenCount"))
            text_detail = True
    if not text_detail:
        usage.text_tokens = max(0, usage.output_tokens - usage.image_tokens)
    return usage


def cost_from_usage(
    model: str, usage: Usage | None, batch: bool = False, *, images: int = 0, size: str | None = None
) -> tuple[float | None, bool]:
    """(USD, estimated) for one billed attempt.

    Gemini models: from the server's usage (image tokens at the derived rate; input, text and thinking tokens where
    their rate is known). Without usage: `images` x the per-image price for `size`, marked estimated.
    Imagen: `images` x the per-image price (its unit of billing; the server sends no usage), not an estimate.
    A usage that lacks the IMAGE token breakdown while images arrived is treated as no usage.
    Batch results cost half. USD None: the price of this model is unknown.
    """
    price = price_for(model)
    if price is None:
        return None, usage is None
    factor = BATCH_FACTOR if batch else 1.0
    # A usage without the IMAGE breakdown (some proxies) cannot say what the images cost: estimate those.
    no_breakdown = usage is not None and images and not usage.image_tokens
    if not price.per_token or usage is None or no_breakdown:
        per_image = price.price_per_image(size)
        if per_image is None:
            return None, price.per_token
        return round(per_image * images * factor, 6), price.per_token
    text_tokens = usage.text_tokens or max(0, usage.output_tokens - usage.image_tokens)
    parts = [
        (usage.image_tokens, price.output_image),
        (usage.prompt_tokens, price.input),
        (text_tokens + usage.thoughts_tokens, price.output_text),
    ]
    priced = [tokens * rate for tokens, rate in parts if rate is not None]
    if not any(rate is not None and tokens for tokens, rate in parts) and any(tokens for tokens, _ in parts):
        return None, False  # only tokens whose price we do not know (a blocked prompt's input)
    return round(sum(priced) / 1e6 * factor, 6), False


def estimate_job(
    model: str,
    count: int,
    size: str | None,
    reference_count: int = 0,
    earlier_turn_images: int = 0,
    *,
    batch: bool = False,
) -> float | None:
    """The cost shown before sending, as if every image arrives: Gemini sends one request per image and each
    request carries every reference and every earlier-turn image again (about 560 input tokens each, priced only
    where the input rate is known). None: price unknown."""
    price = price_for(model)
    if price is None:
        return None
    per_image = price.price_per_image(size)
    if per_image is None:
        return None
    factor = BATCH_FACTOR if batch else 1.0
    if not price.per_token:
        return round(per_image * count * factor, 6)
    tokens = price.tokens_per_image(size) or 0
    usd = tokens * (price.output_image or 0) / 1e6
    if price.input is not None:
        usd += (reference_count + earlier_turn_images) * INPUT_IMAGE_TOKENS * price.input / 1e6
    return round(usd * count * factor, 6)


def _get(d: dict, camel: str):
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake)


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0
