"""The offline endpoint: a real HTTP server on loopback that speaks Google's image APIs (see server.py).

server.py        the HTTP server, key check, routing (`/v1beta` and `/v1`), SSE streaming
faults.py        scriptable faults, recorded requests, Google's error envelope
discovery.py     GET models, GET models/{id}
gemini.py        generateContent, streamGenerateContent, countTokens
conversation.py  multi-turn reading and thought signatures (HMAC)
imagen.py        predict
batches.py, files.py   batch mode and the Files API
sizes.py         pixel sizes and token counts per model
painter.py (with motifs.py, creatures.py, shapes.py, glyphs.py)   the pictures"""

from services.emulator.faults import Fault, RecordedRequest, google_error, retry_info, to_snake
from services.emulator.painter import Painter
from services.emulator.server import Emulator, main
from services.emulator.sizes import pixel_size

__all__ = [
    "Emulator",
    "Fault",
    "Painter",
    "RecordedRequest",
    "google_error",
    "main",
    "pixel_size",
    "retry_info",
    "to_snake",
]
