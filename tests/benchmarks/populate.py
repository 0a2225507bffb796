"""Fills a library with demo images through the real generation service and the emulator over loopback.

python tests/benchmarks/populate.py LIBRARY_DIR [--images N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.catalog import Catalog  # noqa: E402
from services.emulator import Emulator  # noqa: E402
from services.endpoints import demo  # noqa: E402
from services.generation import GenerationService  # noqa: E402
from services.library import Library  # noqa: E402
from services.types import GenerationRequest  # noqa: E402

SUBJECTS = [
    "a lighthouse",
    "a red fox",
    "a mountain lake",
    "an old tram",
    "a paper crane",
    "a city at night",
    "a bowl of ramen",
    "a desert caravan",
    "a koi pond",
    "a greenhouse",
    "a violin",
    "a snowy forest",
    "a robot gardener",
    "a sailing ship",
    "a cat on a windowsill",
    "a hot air balloon",
]
STYLES = [
    "at dusk",
    "in watercolour",
    "as a woodcut",
    "in the rain",
    "golden hour",
    "isometric",
    "film photo",
    "oil painting",
    "neon lights",
    "pastel colours",
    "studio lighting",
    "ukiyo-e style",
]
RATIOS = ["1:1", "16:9", "3:4", "4:3", "9:16"]


async def populate(root: Path, images: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    library = Library(root).open()
    service = GenerationService(Catalog.load(), library, max_parallel=4)
    started = time.perf_counter()
    with Emulator() as server:
        endpoint = demo(server.url)
        made = 0
        while made < images:
            batch = []
            for _ in range(4):
                prompt = f"{rng.choice(SUBJECTS)}, {rng.choice(STYLES)}"
                if rng.random() < 0.04:
                    prompt += " #blocked"
                model = rng.choice(["gemini-3.1-flash-image", "gemini-3-pro-image", "imagen-4.0-generate-001"])
                count = min(rng.choice([1, 2, 4]), max(1, images - made))
                made += count
                batch.append(GenerationRequest(prompt, model, count=count, aspect_ratio=rng.choice(RATIOS), size="1K"))
            await asyncio.gather(*(service.generate(r, endpoint=endpoint, key=None) for r in batch))
    library.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("library")
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    seconds = asyncio.run(populate(Path(args.library), args.images))
    print(f"populated {args.library} with about {args.images} images in {seconds:.1f} s")


if __name__ == "__main__":
    main()
