"""The command line: generate, history, models, key, rebuild; spend and budget (cli_spend.py); board, tag,
rate, duplicates (cli_organize.py); refine and thread (cli_refine.py); batch (cli_batch.py); import (cli_import.py).
Its JSON and exit codes are a contract.

Exit codes: 0 at least one image saved; 2 bad input, nothing sent; 3 blocked or no image; 4 the server refused or
retries ran out; 5 network failure or timeout; 6 the image could not be saved (disk); 7 a spending cap would be
crossed, nothing sent; 75 a batch is not finished yet; 130 interrupted; 1 a bug (the traceback goes to the log file,
never to the terminal).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime

from services import cli_batch, cli_import, cli_organize, cli_refine, cli_setup, cli_spend
from services.app import Services
from services.catalog import DEFAULT_MODEL, ModelInfo
from services.errors import BudgetError, InputError, LedgerError, LibraryError
from services.events import Draft, GenerationEvent, ImageSaved, Retrying, Thought
from services.generation import GenerationService, load_reference, validate
from services.library import HistoryQuery
from services.status import ErrorKind
from services.types import GenerationRequest, GenerationResult

EXIT_OK, EXIT_INPUT, EXIT_NO_IMAGE, EXIT_REFUSED, EXIT_NETWORK, EXIT_DISK, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 6, 130
EXIT_BUG = 1
log = logging.getLogger(__name__)


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit; we answer in the caller's format instead
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="atelier", description="Atelier: a studio for Google's image models.")
    parser.add_argument("--self-test", action="store_true", help="open the window offscreen, generate one demo image")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    def endpoint_options(p):
        p.add_argument("--endpoint", help="demo, google, chainhub or a base URL (default: the saved one)")
        p.add_argument("--auth", choices=("header", "query", "bearer"), help="how a custom endpoint takes the key")

    g = sub.add_parser("generate", help="generate images from a prompt")
    g.add_argument("prompt", help="the prompt, or - to read it from standard input")
    g.add_argument("--model", default=None, help=f"model id (default: {DEFAULT_MODEL})")
    g.add_argument("--count", type=int, default=1, help="number of images (1-4)")
    g.add_argument("--aspect-ratio", dest="aspect_ratio", help="e.g. 1:1, 16:9")
    g.add_argument("--size", help="512, 1K, 2K or 4K, where the model takes it")
    g.add_argument("--image", action="append", default=[], metavar="PATH", help="reference image (repeatable)")
    g.add_argument("--seed", type=int, help="seed, for the Gemini image models")
    g.add_argument("--person-generation", dest="person_generation", choices=("dont_allow", "allow_adult", "allow_all"))
    g.add_argument("--protocol", choices=("generateContent", "predict"), help="for a model Atelier does not know")
    endpoint_options(g)
    g.add_argument("--timeout", type=float, default=None, help="seconds to wait for each answer (default 120)")
    g.add_argument("--library", help="library folder")
    g.add_argument("--json", action="store_true", help="print one JSON object")

    h = sub.add_parser("history", help="list earlier generations, newest first")
    h.add_argument("--search", default="", help="full-text search over prompts and the model's text")
    h.add_argument("--model")
    h.add_argument("--status", choices=("ok", "blocked", "no_image", "error", "cancelled", "interrupted"))
    h.add_argument("--limit", type=int, default=20)
    cli_organize.add_history_filters(h)
    h.add_argument("--library")
    h.add_argument("--json", action="store_true")

    m = sub.add_parser("models", help="list the models and what the endpoint serves")
    endpoint_options(m)
    m.add_argument("--json", action="store_true")

    k = sub.add_parser("key", help="store, check or remove the API key for an endpoint")
    k.add_argument("action", choices=("set", "status", "clear"))
    k.add_argument("--endpoint", default="google", help="google, chainhub or custom (default: google)")
    k.add_argument("--allow-file", action="store_true", help="without a system keychain, keep it in a private file")

    cli_batch.add_parser(sub, endpoint_options)
    cli_refine.add_parsers(sub, endpoint_options)

    r = sub.add_parser("rebuild", help="rebuild the library index from the image files")
    r.add_argument("--library")
    r.add_argument("--json", action="store_true")
    cli_organize.add_parsers(sub)
    cli_spend.add_commands(sub)
    cli_import.add_parser(sub)
    return parser


def run(argv: list[str], services: Services) -> int:
    wants_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail_input(str(exc), wants_json)
    handler = {
        "generate": cmd_generate,
        "history": cmd_history,
        "models": cli_setup.cmd_models,
        "key": cli_setup.cmd_key,
        "rebuild": cmd_rebuild,
        **cli_organize.HANDLERS,
        **cli_spend.HANDLERS,
        "batch": cli_batch.cmd_batch,
        "import": cli_import.cmd_import,
        "refine": cli_refine.cmd_refine,
        "thread": cli_refine.cmd_thread,
    }[args.command]
    try:
        return handler(args, services)
    except InputError as exc:
        return _fail_input(str(exc), getattr(args, "json", False))
    except LibraryError as exc:
        _fail(str(exc), getattr(args, "json", False) and args.command in ("generate", "refine"), "LIBRARY")
        return EXIT_DISK
    except BudgetError as exc:
        if getattr(args, "json", False):
            print(json.dumps(cli_spend.refusal_json(exc, getattr(args, "model", None) or DEFAULT_MODEL)))
        _err(str(exc))
        return cli_spend.EXIT_BUDGET
    except LedgerError as exc:  # the spending ledger cannot be read: budgets cannot be checked, so nothing is sent
        _fail(str(exc), getattr(args, "json", False) and args.command == "generate", "LEDGER")
        return EXIT_DISK
    except KeyboardInterrupt:
        _err("Interrupted.")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: the user gets a sentence and the log gets the traceback
        log.exception("unexpected error in %s", args.command)
        _err(f"Something went wrong: {exc}. Details are in the log folder ({services.paths.log}).")
        return EXIT_BUG
    finally:
        services.shutdown()


def _err(message: str) -> None:
    print(f"atelier: {message}", file=sys.stderr)


def _fail_input(message: str, as_json: bool) -> int:
    _fail(message, as_json, "INVALID_INPUT")
    return EXIT_INPUT


def _fail(message: str, as_json: bool, status: str) -> None:
    """The generate contract's JSON object for a failure before any request, and the sentence on stderr."""
    kind = ErrorKind.INPUT if status == "INVALID_INPUT" else ErrorKind.LIBRARY
    if as_json:
        print(
            json.dumps(
                {
                    "status": "error",
                    "generation_id": None,
                    "model": None,
                    "images": [],
                    "text": "",
                    "reason": message,
                    "error": {"http_status": None, "status": status, "message": message, "kind": kind},
                    "attempts": 0,
                    "cost_usd": None,
                }
            )
        )
    _err(message)


def _read_prompt(value: str) -> str:
    if value != "-":
        return value
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"The prompt on standard input is not valid UTF-8 text (byte {exc.start + 1}).") from None


def cmd_generate(args, services: Services) -> int:
    prompt = _read_prompt(args.prompt)
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise InputError("--timeout must be between 0 and 3600 seconds.")
    try:
        endpoint = services.endpoint(args.endpoint, args.auth)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    model_id = (args.model or DEFAULT_MODEL).removeprefix("models/")
    references = tuple(load_reference(p) for p in args.image)
    request = GenerationRequest(
        prompt=prompt,
        model=model_id,
        count=args.count,
        aspect_ratio=args.aspect_ratio,
        size=args.size,
        references=references,
        seed=args.seed,
        person_generation=args.person_generation,
        protocol=args.protocol,
    )
    model = services.catalog.resolve(request.model, request.protocol)
    validate(request, model)  # refused input says so before a library is opened or "Generating…" is printed
    library = services.open_library(args.library)
    service = GenerationService(
        services.catalog,
        library,
        max_parallel=int(services.settings.get("max_parallel", 4)),
        ledger=services.ledger(),
    )
    if not args.json:
        _describe_start(request, model, endpoint.label)

    def on_event(event: GenerationEvent) -> None:
        if args.json:
            return
        if isinstance(event, ImageSaved):
            image = event.image
            print(f"  saved {image.index + 1}/{request.count}  {image.width}x{image.height}  {image.path}", flush=True)
        elif isinstance(event, Retrying):
            print(f"  retrying in {event.delay:.0f} s: {event.message}", flush=True)
        elif isinstance(event, Thought):
            print(f"  thinking ({event.index + 1}/{request.count}): {_one_line(event.text)}", flush=True)
        elif isinstance(event, Draft):
            size = f"{event.width}x{event.height}"
            print(f"  draft ({event.index + 1}/{request.count}): {size} {event.mime_type}, not saved", flush=True)

    timeout = args.timeout or float(services.settings.get("timeout_s", 120))
    try:
        result = asyncio.run(
            service.generate(
                request, endpoint=endpoint, key=services.key_for(endpoint), timeout=timeout, on_event=on_event
            )
        )
    finally:
        library.close()
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        _describe_result(result)
    return exit_code(result)


def _one_line(text: str, limit: int = 160) -> str:
    """A thought summary as one line: its markdown heading if it has one, else its first words."""
    line = " ".join(text.replace("**", "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


DISK_KINDS = (
    ErrorKind.DISK_FULL,
    ErrorKind.READ_ONLY,
    ErrorKind.LIBRARY,
    ErrorKind.INDEX_CORRUPT,
    ErrorKind.INDEX_BUSY,
)


def exit_code(result: GenerationResult) -> int:
    if result.images:
        return EXIT_OK
    if result.status in ("blocked", "no_image"):
        return EXIT_NO_IMAGE
    if result.error_kind in (ErrorKind.NETWORK, ErrorKind.TIMEOUT):
        return EXIT_NETWORK
    if result.error_kind in DISK_KINDS:
        return EXIT_DISK
    return EXIT_REFUSED


def _describe_start(request: GenerationRequest, model: ModelInfo, endpoint_label: str) -> None:
    what = f"{request.count} image{'s' if request.count > 1 else ''}"
    print(f"Generating {what} with {model.id} on {endpoint_label}…", flush=True)
    note = model.retirement_note()
    if note and "Google" in endpoint_label:
        print(f"  note: {note}", flush=True)


def _describe_result(result: GenerationResult) -> None:
    cost = f", cost ${result.cost_usd:.3f}" if result.cost_usd else ""
    if result.cost_usd is None:  # a model whose price nobody published: never an invented one
        cost = ", price unknown"
    if result.images:
        print(f"Done: {len(result.images)} image{'s' if len(result.images) > 1 else ''} saved{cost}.")
        if result.reason:
            print(f"  note: {result.reason}")
        if result.text:
            print(f"  the model said: {result.text}")
        return
    labels = {"blocked": "Blocked", "no_image": "No image", "error": "Failed", "cancelled": "Cancelled"}
    _err(f"{labels.get(result.status, result.status)}: {result.reason}")
    if result.text and result.status != "error":
        print(f"  the model said: {result.text}", file=sys.stderr)


def cmd_history(args, services: Services) -> int:
    if args.limit < 1:
        raise InputError("--limit must be at least 1.")
    filters = cli_organize.history_filters(args)
    library = services.open_library(args.library)
    try:
        statuses = (args.status,) if args.status else ()
        query = HistoryQuery(search=args.search, model=args.model, statuses=statuses, **filters)
        entries = library.history(query, limit=args.limit)
        listed = [e.as_json() for e in entries]
        if args.json:
            cli_organize.add_organize_json(library, listed)
    finally:
        library.close()
    if args.json:
        print(json.dumps(listed, ensure_ascii=False))
        return EXIT_OK
    if not entries:
        print("No generations found." if not args.search else f"Nothing matches “{args.search}”.")
    for e in entries:
        when = datetime.fromtimestamp(e.created_at).strftime("%Y-%m-%d %H:%M")
        count = f"{len(e.images)} image{'s' if len(e.images) != 1 else ''}"
        prompt = " ".join(e.prompt.split())
        print(f"{when}  {e.status:<11} {e.model:<30} {count:<9} {prompt[:80]}")
        if e.status != "ok" and e.reason:
            print(f"{'':18}{e.reason[:140]}")
    return EXIT_OK


def cmd_rebuild(args, services: Services) -> int:
    from services.library import Library

    library = Library(services.library_root(args.library))
    report = library.rebuild()
    library.close()
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"Rebuilt the index of {library.root}: {report['images']} images in {report['generations']} "
            f"generations ({report['without_metadata']} without metadata, {report['unreadable']} unreadable)."
        )
        for skipped in report["skipped"]:
            print(f"  skipped {skipped['path']}: {skipped['reason']}")
        for damaged in report["damaged"]:
            print(f"  {damaged['path']}: {damaged['reason']}")
    return EXIT_OK
