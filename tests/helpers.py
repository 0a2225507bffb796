"""Small builders shared by the tests."""

import asyncio
import base64
import struct
import time
import zlib

from services.catalog import Catalog
from services.emulator import Painter
from services.endpoints import Endpoint, custom, demo
from services.generation import GenerationService

PAINTER = Painter()


def png(prompt="test", width=64, height=48) -> bytes:
    return PAINTER.png(prompt, width, height)


def jpeg(prompt="test", width=64, height=48) -> bytes:
    return PAINTER.png(prompt, width, height, fmt="JPEG")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """Inserts an extra chunk after IHDR (as a C2PA writer puts caBX)."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A tiny PNG whose header declares a gigantic picture."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )


def gemini_body(*parts, finish="STOP", usage=None) -> dict:
    body = {"candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish, "index": 0}]}
    if usage:
        body["usageMetadata"] = usage
    return body


def image_part(data: bytes, mime="image/png") -> dict:
    return {"inlineData": {"mimeType": mime, "data": b64(data)}}


def service_for(library, **kw) -> GenerationService:
    from services.client import RetryPolicy

    return GenerationService(Catalog.load(), library, retry=kw.pop("retry", RetryPolicy(base_delay=0.01)), **kw)


def demo_endpoint(server) -> Endpoint:
    return demo(server.url)


def custom_endpoint(server, auth="header") -> Endpoint:
    return custom(server.url, auth)


async def requests_arrive(server, count: int = 1, timeout: float = 10.0) -> None:
    """Waits on the loop until the emulator has received `count` requests; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while len(server.requests) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the emulator received {len(server.requests)} of {count} requests in {timeout} s")
        await asyncio.sleep(0.01)


async def ends_cancelled(task: asyncio.Task, timeout: float = 10.0) -> None:
    """Waits (bounded) for a task that was just cancelled; fails unless it ended by that cancellation."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    assert task in done, f"the task was still running {timeout} s after cancel()"
    if not task.cancelled():
        error = task.exception()
        raise AssertionError(f"the task raised {error!r} instead" if error else "the task swallowed the cancel")
