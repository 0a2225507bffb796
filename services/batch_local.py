"""The local queue: a prompt list run here, request by request, for endpoints without a batch mode (a proxy, Imagen).

Same list, same library record and `batch_id` link as a remote batch, at the standard price; the parallel-requests
setting bounds concurrency and the client honours the server's RetryInfo as for any single generation.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields

from services import batch_costs
from services.batch import BatchService
from services.batch_store import BatchRecord, BatchRequest, FetchResult, endpoint_dict, new_batch_id, title_of
from services.endpoints import Endpoint
from services.generation import EventCallback, GenerationService
from services.prompt_list import PromptList
from services.status import Status


async def run_local(
    service: BatchService,
    prompts: PromptList,
    *,
    endpoint: Endpoint,
    key: str | None,
    max_parallel: int = 4,
    http=None,
    timeout: float = 120.0,
    on_event: EventCallback | None = None,
) -> FetchResult:
    prompts.raise_for_errors()
    cost = 0.0 if endpoint.name == "demo" else prompts.estimated_cost(batch=False)
    record = BatchRecord(
        new_batch_id(),
        ",".join(prompts.models()),
        endpoint_dict(endpoint),
        time.time(),
        title_of([row.request.prompt for row in prompts.rows]),
        state="running",
        requests=len(prompts.rows),
        images_expected=prompts.images_expected,
        estimated_cost_usd=cost,
        pending=len(prompts.rows),
        local=True,
    )
    await asyncio.to_thread(batch_costs.check_budget, service.ledger, [record])  # the whole list, before any job
    await asyncio.to_thread(service.store.save, record)
    generator = GenerationService(
        service.catalog, service.library, http=http, max_parallel=max_parallel, ledger=service.ledger
    )
    slots = asyncio.Semaphore(max(1, max_parallel))

    async def one(row) -> None:
        values = {f.name: getattr(row.request, f.name) for f in fields(row.request)}
        request = BatchRequest(**values, batch_id=record.batch_id)
        async with slots:
            result = await generator.generate(request, endpoint=endpoint, key=key, timeout=timeout, on_event=on_event)
        record.generation_ids.append(result.generation_id)
        record.pending -= 1
        if result.images:
            record.succeeded += 1
        elif Status(result.status).failed:
            record.failed += 1
        await asyncio.to_thread(service.store.save, record)

    tasks = [asyncio.ensure_future(one(row)) for row in prompts.rows]
    try:
        await asyncio.gather(*tasks)
        record.state = "succeeded"
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        record.state = "cancelled"
        raise
    finally:
        record.ingested = True
        await asyncio.shield(asyncio.to_thread(service.store.save, record))
    return await asyncio.to_thread(service.result, record)
