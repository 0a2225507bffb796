"""What a batch costs: its estimate against the budgets before it is sent, and each saved result's cost, counted once.

A result costs what services/pricing makes of its usage at the batch price. It is counted in the ledger (identity:
library, generation id) before the library marks it finished, so a kill in between counts it once on the next fetch,
and fetching twice counts nothing twice. The demo endpoint is free and never counted.
"""

from __future__ import annotations

import logging
from pathlib import Path

from services import pricing
from services.batch_store import BatchRecord
from services.ledger import FREE_ENDPOINTS, Ledger
from services.spending import billed_record
from services.types import GenerationResult

log = logging.getLogger(__name__)


def spend_key(saved_endpoint: dict) -> str:
    """The ledger's name for a record's endpoint (services.ledger.endpoint_key of the endpoint it was sent to)."""
    return saved_endpoint["base_url"] if saved_endpoint["name"] == "custom" else saved_endpoint["name"]


def check_budget(ledger: Ledger | None, records: list[BatchRecord]) -> None:
    """Raises BudgetError when these planned batches together would cross a budget of their endpoint."""
    if ledger is None:
        return
    by_endpoint: dict[str, float | None] = {}
    for record in records:
        key = spend_key(record.endpoint)
        cost, known = record.estimated_cost_usd, by_endpoint.get(key, 0.0)
        by_endpoint[key] = None if cost is None or known is None else known + cost
    for key, cost in by_endpoint.items():
        if key not in FREE_ENDPOINTS:
            ledger.check(key, cost)


def count_result(
    ledger: Ledger | None, library_root: Path, record: BatchRecord, result: GenerationResult, size: str | None
) -> float | None:
    """The result's cost at the batch price (None: price unknown), counted in the ledger unless nothing was billed
    for it (an error entry)."""
    if record.endpoint["name"] == "demo":
        return 0.0
    images = len(result.images)
    cost = pricing.cost_from_usage(result.model, result.usage, batch=True, images=images, size=size)[0]
    if ledger is None:
        return cost
    spent = billed_record(result, library=library_root, endpoint=spend_key(record.endpoint), size=size, batch=True)
    if spent is not None:
        try:
            ledger.record(spent)
        except Exception as exc:  # the image is saved; a count the ledger could not take is logged, not fatal
            log.error("could not count the cost of %s: %s", result.generation_id, exc)
    return cost
