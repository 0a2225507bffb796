"""A batch's local record and where it is kept: `<library>/.atelier/batches/<id>.json` (written atomically), its request
list beside it, and the deterministic generation id of each request. Outside the index, so a rebuild keeps them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from services.batch_api import FINISHED
from services.endpoints import Endpoint
from services.errors import InputError, LibraryError
from services.library import pid_alive
from services.settings import write_atomically
from services.status import ErrorKind
from services.types import GenerationRequest, SavedImage

log = logging.getLogger(__name__)
GENERATION_NAMESPACE = uuid.UUID("5b7f3c1e-8a41-4d55-9a53-6f1e2b0c7d10")


@dataclass(frozen=True)
class BatchRequest(GenerationRequest):
    """A request that came from a batch: its stored record (in the index and in the image file) names the batch."""

    batch_id: str | None = None

    def record(self) -> dict:
        return {**super().record(), "batch_id": self.batch_id}


@dataclass
class BatchRecord:
    batch_id: str
    model: str
    endpoint: dict  # name, base_url, auth: enough to reach the same server again
    created_at: float
    title: str = ""  # what an artist recognises it by: its first prompt (and how many more)
    state: str = "pending"  # pending, running, succeeded, failed, cancelled, expired
    remote_name: str | None = None  # None until the create call has answered
    requests: int = 0
    images_expected: int = 0
    estimated_cost_usd: float | None = None
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    saved: int = 0
    ingested: bool = False
    local: bool = False
    input_file: str | None = None
    responses_file: str | None = None
    files_deleted: bool = False  # its input and results files are gone from the server (after the ingest)
    error: str | None = None
    pid: int = field(default_factory=os.getpid)
    last_polled_at: float = 0.0
    poll_interval: float = 0.0
    generation_ids: list[str] = field(default_factory=list)  # local runs only; remote ones derive theirs

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def local_run_died(self) -> bool:
        """True (and the record says so) for a local run whose process ended before it finished."""
        if not self.local or self.finished or pid_alive(self.pid):
            return False
        done = self.succeeded + self.failed
        self.state = "failed"
        self.error = f"Atelier stopped while running this list here; {done} of {self.requests} were done and are kept."
        return True

    def as_json(self) -> dict:
        keys = ("batch_id", "remote_name", "state", "requests", "succeeded", "failed", "pending", "saved")
        out = {k: getattr(self, k) for k in keys}
        out["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at))
        out["estimated_cost_usd"] = self.estimated_cost_usd
        return out


def title_of(prompts: list[str], limit: int = 60) -> str:
    """ "a fox, watercolour (+39 more)": the first prompt, shortened, and how many others the batch holds."""
    if not prompts:
        return ""
    first = " ".join(prompts[0].split())
    first = first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
    return first + (f" (+{len(prompts) - 1} more)" if len(prompts) > 1 else "")


def generation_id_for(batch_id: str, key: str) -> str:
    return uuid.uuid5(GENERATION_NAMESPACE, f"{batch_id}/{key}").hex


class BatchStore:
    """One JSON record per batch (written atomically) and its request list, under the library's .atelier folder."""

    def __init__(self, library_root: Path):
        self.folder = Path(library_root) / ".atelier" / "batches"

    def save(self, record: BatchRecord) -> None:
        data = json.dumps(asdict(record), ensure_ascii=False, indent=1).encode()
        write_atomically(self.folder / f"{record.batch_id}.json", data)

    def load(self, batch_id: str) -> BatchRecord:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", batch_id or ""):
            raise InputError(f"{batch_id!r} is not a batch id (see `batch status`).")
        try:
            raw = json.loads((self.folder / f"{batch_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"There is no batch {batch_id} in this library (see `batch status`).") from None
        except (OSError, ValueError) as exc:
            raise LibraryError(f"The record of batch {batch_id} cannot be read ({exc}).") from None
        known = {f.name for f in fields(BatchRecord)}
        return BatchRecord(**{k: v for k, v in raw.items() if k in known})

    def all(self) -> list[BatchRecord]:
        records = []
        for path in self.folder.glob("*.json") if self.folder.is_dir() else ():
            if path.name.endswith(".requests.json"):
                continue
            try:
                records.append(self.load(path.stem))
            except (InputError, LibraryError, TypeError) as exc:
                log.warning("skipping batch record %s: %s", path.name, exc)
        return sorted(records, key=lambda r: r.created_at, reverse=True)

    def forget(self, batch_id: str) -> None:
        """A batch the server never accepted leaves nothing behind."""
        for suffix in (".json", ".requests.json", ".lock"):
            (self.folder / f"{batch_id}{suffix}").unlink(missing_ok=True)

    def save_requests(self, batch_id: str, rows: list[dict]) -> None:
        write_atomically(self.folder / f"{batch_id}.requests.json", json.dumps(rows, ensure_ascii=False).encode())

    def requests(self, batch_id: str) -> list[dict]:
        try:
            return json.loads((self.folder / f"{batch_id}.requests.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []

    @contextlib.asynccontextmanager
    async def ingest_lock(self, batch_id: str, timeout: float = 3600.0):
        """One process saves a batch's results at a time (the window and a command line may both try); the other
        waits without blocking its event loop."""
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        with open(self.folder / f"{batch_id}.lock", "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # Windows: no advisory locks here; deterministic ids still prevent duplicates
                fcntl = None
            deadline = time.monotonic() + timeout
            while fcntl is not None:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LibraryError(
                            f"Another Atelier is still saving batch {batch_id}; try again when it has finished.",
                            kind=ErrorKind.INDEX_BUSY,
                        ) from None
                    await asyncio.sleep(0.5)
            yield


def new_batch_id() -> str:
    return time.strftime("b%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]


def endpoint_dict(endpoint: Endpoint) -> dict:
    return {"name": endpoint.name, "base_url": endpoint.base_url, "auth": list(endpoint.auth), "label": endpoint.label}


def default_resolver(saved: dict) -> tuple[Endpoint, str | None]:
    return Endpoint(saved["name"], saved["base_url"], tuple(saved["auth"]), saved.get("label", saved["name"])), None


@dataclass
class FetchResult:
    record: BatchRecord
    images: list[tuple[SavedImage, str]]  # (image, prompt)
    failed: int

    def as_json(self) -> dict:
        images = [
            {**img.as_json(), "prompt": prompt, "generation_id": img.generation_id} for img, prompt in self.images
        ]
        r = self.record
        return {"batch_id": r.batch_id, "state": r.state, "saved": len(images), "failed": self.failed, "images": images}
