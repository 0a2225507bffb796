"""What Google's servers make: pixel sizes per model family, ratio and size, and how many tokens things count as."""

from __future__ import annotations

import base64
import binascii
import math
import re

from services.catalog import ModelInfo

# Imagen at 1K; 2K doubles each side (gemini-api.md).
IMAGEN_1K = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
# Gemini 3.x at 1K (gemini-api.md); 512, 2K and 4K halve, double and quadruple each side. The 3.1 Flash family's
# extra ratios are not in our notes: these are 1K-area sizes on the same 16-pixel grid (?).
GEMINI3_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
    "1:4": (512, 2048),
    "4:1": (2048, 512),
    "1:8": (384, 3072),
    "8:1": (3072, 384),
}
# Gemini 2.5 Flash Image: one size per ratio (Google's image generation guide; not in our notes).
GEMINI25 = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
SCALE = {"512": 0.5, "0.5K": 0.5, "1K": 1, "2K": 2, "4K": 4}
# Output tokens per image for a model the catalog gives no table (Nano Banana 2.1, 3.1 Flash-Lite): the 3.1 Flash
# table, so usage looks real; their price stays unknown, so no cost is computed from it.
FALLBACK_IMAGE_TOKENS = {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520, "": 1290}
TOKENS_PER_INPUT_IMAGE = 560


def pixel_size(aspect_ratio: str | None, size: str | None, family: str = "gemini3") -> tuple[int, int]:
    """family: gemini3, gemini25 or imagen."""
    ratio = aspect_ratio or "1:1"
    if family == "gemini25":
        return GEMINI25.get(ratio) or _by_area(ratio, 1024 * 1024)
    table = IMAGEN_1K if family == "imagen" else GEMINI3_1K
    w, h = table.get(ratio) or _by_area(ratio, 1024 * 1024)
    scale = SCALE.get(size or "1K", 1)
    return int(w * scale), int(h * scale)


def _by_area(ratio: str, area: int) -> tuple[int, int]:
    a, b = (float(x) for x in ratio.split(":"))
    return int((area * a / b) ** 0.5) // 16 * 16, int((area * b / a) ** 0.5) // 16 * 16


def family_of(model: ModelInfo) -> str:
    if model.protocol == "predict":
        return "imagen"
    return "gemini3" if model.sizes else "gemini25"


def closest_ratio(width: int, height: int, ratios) -> str:
    """The supported ratio nearest (in log scale) to a picture's shape: an edit follows its input's shape."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        a, b = (float(x) for x in ratio.split(":"))
        return abs(math.log(a / b) - target)

    return min(ratios, key=distance)


def image_tokens(model: ModelInfo, size: str | None) -> int:
    known = model.image_tokens_for(size)
    if known is not None:
        return known
    if not model.sizes:
        return FALLBACK_IMAGE_TOKENS[""]
    return FALLBACK_IMAGE_TOKENS.get(size or "1K", FALLBACK_IMAGE_TOKENS["1K"])


def text_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: words and punctuation marks, long words counting per 4 letters."""
    return sum(max(1, math.ceil(len(piece) / 4)) for piece in re.findall(r"\w+|[^\w\s]", text))


def decode_b64(text) -> bytes | None:
    """Standard or URL-safe base64 (Google's SDK sends the URL-safe alphabet); None when neither."""
    if not isinstance(text, str):
        return None
    compact = "".join(text.split())
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if re.fullmatch(r"[A-Za-z0-9+/]*=*", padded):
            return base64.b64decode(padded, validate=True)
        if re.fullmatch(r"[A-Za-z0-9_-]*=*", padded):
            return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        return None
    return None
