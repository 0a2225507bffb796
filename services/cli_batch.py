"""`batch submit|status|fetch|cancel`: prompt lists on Google's batch engine. Its JSON and exit codes are a contract.

Exit codes: 0 finished with at least one image saved (submit: accepted); 2 bad input, nothing sent; 3 finished
without images; 4 the batch failed, was cancelled or expired, or the endpoint has no batch mode; 5 network; 6 disk;
7 submit refused: its estimate would cross a budget (nothing sent); 75 not finished yet (fetch without --wait).

`submit --json` prints one object per planned batch (a list when the list spans several models), each with `error`:
null when accepted, else `{kind, status, http_status, message}` (kind from services.status.ErrorKind: input,
budget, unsupported, network, ...), with `batch_id` null unless a record was kept to be found again (a create whose
answer was lost), `remote_name` and `state` null. `submit --local --json` prints the fetch object, with `error` too.

`--endpoint demo` runs the emulator inside this process; it keeps its batches in `<library>/.atelier/demo-batches`
and answers a batch as it is created, so a later `batch fetch` (a new process, a new demo server) finds the results.
"""

from __future__ import annotations

import asyncio
import json
import sys

from services import batch_costs
from services.app import Services
from services.batch import BatchService
from services.batch_store import BatchRecord, FetchResult, endpoint_dict
from services.catalog import DEFAULT_MODEL
from services.errors import ApiError, BudgetError, InputError, LibraryError, NetworkError
from services.prompt_list import parse, read_source

EXIT_OK, EXIT_INPUT, EXIT_EMPTY, EXIT_FAILED, EXIT_NETWORK, EXIT_DISK, EXIT_NOT_YET = 0, 2, 3, 4, 5, 6, 75
EXIT_BUDGET = 7  # as generate's refusal (services/cli_spend.py)
SUBMIT_FAILURES = (InputError, BudgetError, ApiError, NetworkError, LibraryError)


def add_parser(sub, endpoint_options) -> None:
    b = sub.add_parser("batch", help="run a list of prompts on Google's batch engine at half price")
    actions = b.add_subparsers(
        dest="batch_command", parser_class=type(b), required=True, metavar="submit|status|fetch|cancel"
    )
    s = actions.add_parser("submit", help="send a prompt list (text, CSV or JSONL; - reads standard input)")
    s.add_argument("file")
    s.add_argument("--model", help=f"model for rows that name none (default: {DEFAULT_MODEL})")
    s.add_argument("--count", type=int, help="images per prompt for rows that give none (default 1)")
    s.add_argument("--aspect-ratio", dest="aspect_ratio")
    s.add_argument("--size")
    s.add_argument("--local", action="store_true", help="run the list here, request by request (standard price)")
    endpoint_options(s)
    for name, p in (("status", None), ("fetch", None), ("cancel", None)):
        p = actions.add_parser(name)
        p.add_argument("batch_id", nargs="?" if name == "status" else None)
        if name == "fetch":
            p.add_argument("--wait", action="store_true", help="poll until the batch ends, then save its images")
            p.add_argument("--poll", type=float, default=None, help="seconds between polls (default 30, backing off)")
        p.add_argument("--library")
        p.add_argument("--json", action="store_true")
    s.add_argument("--library")
    s.add_argument("--json", action="store_true")


def _err(message: str) -> None:
    print(f"atelier: {message}", file=sys.stderr)


def cmd_batch(args, services: Services) -> int:
    library = services.open_library(args.library)
    service = BatchService(
        services.catalog, library, resolver=services.batch_resolver(library.root), ledger=services.ledger()
    )
    try:
        handler = {"submit": _submit, "status": _status, "fetch": _fetch, "cancel": _cancel}[args.batch_command]
        return asyncio.run(handler(args, services, service))
    except InputError:
        raise
    except NetworkError as exc:
        _err(str(exc))
        return EXIT_NETWORK
    except ApiError as exc:
        _err(str(exc))
        return EXIT_FAILED
    finally:
        library.close()


class Submission:
    """What a submit has got to, so that a failure at any step prints the same shape as a success."""

    def __init__(self):
        self.prompts = None
        self.plans: list[BatchRecord] = []
        self.sent: dict[str, BatchRecord] = {}  # batch id -> the record as the submit left it

    def objects(self, error: Exception | None = None, store=None) -> list[dict]:
        if not self.plans:  # refused before any batch was planned
            p = self.prompts
            ok = p is not None and not p.errors
            return [{"batch_id": None, "remote_name": None, "state": None, "requests": p.requests if ok else 0,
                     "images_expected": p.images_expected if ok else 0,
                     "estimated_cost_usd": p.estimated_cost() if ok else None, "error": error_json(error)}]  # fmt: skip
        out = []
        for planned in self.plans:
            record = self.sent.get(planned.batch_id)
            if record is None and store is not None and error is not None and not isinstance(error, BudgetError):
                record = _kept(store, planned.batch_id)  # sent, answer lost: kept to be found again by its name
            accepted = record is not None and record.remote_name and planned.batch_id in self.sent
            r = record or planned
            out.append({"batch_id": r.batch_id if record else None, "remote_name": r.remote_name if record else None,
                        "state": r.state if record else None, "requests": r.requests,
                        "images_expected": r.images_expected, "estimated_cost_usd": r.estimated_cost_usd,
                        "error": None if accepted else error_json(error)})  # fmt: skip
        return out


def _kept(store, batch_id: str) -> BatchRecord | None:
    try:
        return store.load(batch_id)
    except (InputError, LibraryError):
        return None


def error_json(error: Exception | None) -> dict | None:
    if error is None:
        return None
    kind = getattr(error, "kind", None) or ("input" if isinstance(error, InputError) else "bug")
    status = getattr(error, "status", None) or ("INVALID_INPUT" if isinstance(error, InputError) else None)
    return {"kind": str(kind), "status": status, "http_status": getattr(error, "http_status", None),
            "message": str(error)}  # fmt: skip


def exit_code_for(error: Exception) -> int:
    for kind, code in ((BudgetError, EXIT_BUDGET), (InputError, EXIT_INPUT), (NetworkError, EXIT_NETWORK),
                       (ApiError, EXIT_FAILED), (LibraryError, EXIT_DISK)):  # fmt: skip
        if isinstance(error, kind):
            return code
    raise error


def _one_or_list(objects: list[dict]):
    return objects[0] if len(objects) == 1 else objects


async def _submit(args, services: Services, service: BatchService) -> int:
    """Without --json, a failure goes on to cmd_batch and the main command line (a sentence, an exit code)."""
    submission = Submission()
    try:
        return await _send(args, services, service, submission)
    except SUBMIT_FAILURES as error:
        if not args.json:
            raise
        if args.local:
            refused = {"batch_id": None, "state": None, "saved": 0, "failed": 0, "images": []}
            print(json.dumps({**refused, "error": error_json(error)}, ensure_ascii=False))
        else:
            print(json.dumps(_one_or_list(submission.objects(error, service.store)), ensure_ascii=False))
        _err(str(error))
        return exit_code_for(error)


async def _send(args, services: Services, service: BatchService, submission: Submission) -> int:
    text, name = read_source(args.file)
    defaults = {"model": args.model, "count": args.count, "aspect_ratio": args.aspect_ratio, "size": args.size}
    prompts = submission.prompts = parse(text, services.catalog, name=name, defaults=defaults)
    prompts.raise_for_errors()
    try:
        endpoint = services.endpoint(args.endpoint, args.auth)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    key = services.key_for(endpoint)
    if endpoint.needs_key and not key:
        raise InputError(
            "No API key for this endpoint. Set GEMINI_API_KEY, store one with `python main.py key set`, "
            "or try the offline demo (--endpoint demo)."
        )
    if args.local:
        from services.batch_local import run_local

        if not args.json:
            print(f"Running {prompts.images_expected} image(s) from {len(prompts.rows)} prompt(s) here…", flush=True)
        parallel = int(services.settings.get("max_parallel", 4))
        result = await run_local(service, prompts, endpoint=endpoint, key=key, max_parallel=parallel)
        return _report_fetch(result, args.json)
    service.resolver(endpoint_dict(endpoint))  # the demo server learns where its batches live
    plans = service.plan(prompts, endpoint)
    submission.plans = [record for record, _ in plans]
    batch_costs.check_budget(service.ledger, submission.plans)  # all or nothing is sent
    if not args.json:
        cost = prompts.estimated_cost()
        price = f"about ${cost:.2f} at the batch price (50%)" if cost is not None else "price unknown for this model"
        price = "free on the demo" if endpoint.name == "demo" else price
        print(f"{prompts.requests} request(s), {prompts.images_expected} image(s), {price}.", flush=True)
    for record, rows in plans:
        record = await service.submit(record, rows)
        submission.sent[record.batch_id] = record
        if not args.json:
            print(f"Submitted {record.batch_id} ({record.model}, {record.requests} requests): {record.state}.")
    if args.json:
        print(json.dumps(_one_or_list(submission.objects())))
    else:
        first = submission.plans[0].batch_id
        print(f"Follow it with `python main.py batch status`, save with `python main.py batch fetch {first}`.")
    return EXIT_OK


async def _status(args, services: Services, service: BatchService) -> int:
    records = [service.load(args.batch_id)] if args.batch_id else service.records()
    fresh: list[BatchRecord] = []
    problem = None
    for record in records:
        try:
            record, _ = await service.refresh(record)
        except (ApiError, NetworkError) as exc:
            problem = exc
        fresh.append(await asyncio.to_thread(lambda r=record: service.result(r).record))
    if args.json:
        objects = [r.as_json() for r in fresh]
        print(json.dumps(objects[0] if args.batch_id else objects))
    else:
        if not fresh:
            print("No batches in this library.")
        for r in fresh:
            done = r.succeeded + r.failed
            print(
                f"{r.batch_id}  {r.state:<10} {done}/{r.requests} done, {r.failed} failed, {r.saved} saved"
                + (f"  ({r.error})" if r.error else "")
            )
    if problem is not None:
        _err(str(problem))
        return EXIT_NETWORK if isinstance(problem, NetworkError) else EXIT_FAILED
    return EXIT_OK


async def _fetch(args, services: Services, service: BatchService) -> int:
    if args.poll is not None and not 0 <= args.poll <= 86400:
        raise InputError("--poll must be between 0 and 86400 seconds.")
    record = service.load(args.batch_id)

    def progress(r: BatchRecord) -> None:
        if not args.json:
            print(f"  {r.state}: {r.succeeded + r.failed}/{r.requests} done", flush=True)

    result = await service.fetch(record, wait=args.wait, poll=args.poll, on_progress=progress)
    return _report_fetch(result, args.json)


def _report_fetch(result: FetchResult, as_json: bool) -> int:
    r = result.record
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    elif not r.finished:
        print(f"{r.batch_id} is {r.state}: {r.succeeded + r.failed} of {r.requests} done. Fetch again later.")
    else:
        print(f"{r.batch_id} {r.state}: {len(result.images)} image(s) saved, {result.failed} failed.")
        for image, _prompt in result.images[:20]:
            print(f"  {image.path}")
    if not r.finished:
        return EXIT_NOT_YET
    if r.state in ("failed", "cancelled", "expired"):
        if r.error and not as_json:
            _err(r.error)
        return EXIT_FAILED
    return EXIT_OK if result.images else EXIT_EMPTY


async def _cancel(args, services: Services, service: BatchService) -> int:
    record = await service.cancel(service.load(args.batch_id))
    if args.json:
        print(json.dumps(record.as_json()))
    else:
        print(f"{record.batch_id}: {record.state}.")
    return EXIT_OK
