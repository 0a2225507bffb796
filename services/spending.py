"""Plain values of the spending ledger (services/ledger.py): one billed attempt, a summary, a budget; and the
calendar: local days, weeks from Monday, months from the 1st."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from services.pricing import cost_from_usage
from services.settings import write_atomically
from services.types import GenerationResult, Usage


@dataclass(frozen=True)
class SpendRecord:
    """One billed attempt (one request that the server answered, blocked or not).

    Its identity is (library, generation_id, part): recording it again, or again after an index rebuild, counts it
    once. `part` tells apart the requests of one generation (Gemini sends one per image); 0 when one record covers
    the whole generation. `usd` None: the model's price is unknown.
    """

    generation_id: str
    library: str
    endpoint: str
    model: str
    usd: float | None
    estimated: bool = False
    images: int = 0
    at: float = field(default_factory=time.time)
    part: int = 0
    status: str = "ok"
    batch: bool = False
    input_tokens: int = 0
    output_tokens: int = 0  # output text and thinking
    image_tokens: int = 0

    @classmethod
    def priced(
        cls,
        *,
        generation_id: str,
        library: str | Path,
        endpoint: str,
        model: str,
        usage: Usage | None,
        images: int,
        size: str | None = None,
        batch: bool = False,
        status: str = "ok",
        at: float | None = None,
        part: int = 0,
    ) -> SpendRecord:
        """A record whose cost comes from the server's usage (services.pricing), estimated where none came back."""
        usd, estimated = cost_from_usage(model, usage, batch, images=images, size=size)
        u = usage or Usage()
        return cls(
            generation_id=generation_id,
            library=str(library),
            endpoint=endpoint,
            model=model.removeprefix("models/"),
            usd=usd,
            estimated=estimated,
            images=images,
            at=time.time() if at is None else at,
            part=part,
            status=str(status),
            batch=batch,
            input_tokens=u.prompt_tokens,
            output_tokens=(u.text_tokens or max(0, u.output_tokens - u.image_tokens)) + u.thoughts_tokens,
            image_tokens=u.image_tokens,
        )


@dataclass(frozen=True)
class SummaryRow:
    key: str
    usd: float
    images: int
    attempts: int

    def as_json(self) -> dict:
        return {"key": self.key, "usd": round(self.usd, 6), "images": self.images, "attempts": self.attempts}


@dataclass(frozen=True)
class Summary:
    total_usd: float
    estimated_usd: float  # the part of total_usd estimated (no usage came back)
    attempts: int
    images: int
    unpriced: int  # attempts whose model has no known price (counted, not in the totals)
    rows: list[SummaryRow]

    def as_json(self) -> dict:
        """The `spend --json` contract."""
        return {
            "total_usd": round(self.total_usd, 6),
            "estimated_usd": round(self.estimated_usd, 6),
            "attempts": self.attempts,
            "images": self.images,
            "rows": [r.as_json() for r in self.rows],
        }


@dataclass(frozen=True)
class Budget:
    endpoint: str | None  # None: all endpoints together
    daily: float | None
    monthly: float | None

    def as_json(self) -> dict:
        return {"endpoint": self.endpoint or "all", "daily_usd": self.daily, "monthly_usd": self.monthly}


def this_week(today: date) -> tuple[date, date]:
    return today - timedelta(days=today.weekday()), today


def this_month(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


def local_start(day: date) -> float:
    """Epoch seconds of local midnight starting `day`."""
    return datetime.combine(day, clock()).timestamp()


def usd_text(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.3f}"


@dataclass(frozen=True)
class BreakdownRow:
    day: str  # local day, YYYY-MM-DD
    endpoint: str
    model: str
    usd: float
    estimated_usd: float
    images: int
    attempts: int


CSV_HEADER = ("day", "endpoint", "model", "usd", "estimated_usd", "images", "attempts")


def csv_bytes(rows: list[BreakdownRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow((r.day, r.endpoint, r.model, f"{r.usd:.6f}", f"{r.estimated_usd:.6f}", r.images, r.attempts))
    return out.getvalue().encode("utf-8")


def write_csv(path: Path, rows: list[BreakdownRow]) -> None:
    """Written whole or not at all (temp file, then rename)."""
    write_atomically(Path(path), csv_bytes(rows))


def billed_record(
    result: GenerationResult,
    *,
    library: str | Path,
    endpoint: str,
    size: str | None,
    batch: bool = False,
    at: float | None = None,
    part: int = 0,
) -> SpendRecord | None:
    """The ledger's record of a finished generation (its usage summed over its requests), or None when nothing was
    billed: no usage came back and no image arrived (a refused request, a network failure, a cancel)."""
    if result.usage is None and not result.images:
        return None
    return SpendRecord.priced(
        generation_id=result.generation_id,
        library=library,
        endpoint=endpoint,
        model=result.model,
        usage=result.usage,
        images=len(result.images),
        size=size,
        batch=batch,
        status=result.status,
        at=at,
        part=part,
    )
