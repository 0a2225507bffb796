"""The command line's refine and thread commands (a contract, as `generate`'s: same JSON object, same exit codes).

refine GENERATION_ID PROMPT [--image-index N] [--image PATH]... [--model ID] [--aspect-ratio R] [--size S]
       [--endpoint ...] [--auth ...] [--timeout S] [--library DIR] [--json]
thread GENERATION_ID [--library DIR] [--json]
"""

from __future__ import annotations

import asyncio
import json

from services import conversation
from services.errors import InputError
from services.generation import GenerationService, load_reference, validate

EXIT_OK = 0


def add_parsers(sub, endpoint_options) -> None:
    r = sub.add_parser("refine", help="edit an image by a new instruction, continuing its conversation")
    r.add_argument("generation_id", help="the generation's id (or its first 8+ characters)")
    r.add_argument("prompt", help="the instruction, or - to read it from standard input")
    r.add_argument("--image-index", dest="image_index", type=int, default=0, help="which image (0-based, default 0)")
    r.add_argument("--image", action="append", default=[], metavar="PATH", help="a new reference image (repeatable)")
    r.add_argument("--model", default=None, help="model id (default: the conversation's)")
    r.add_argument("--aspect-ratio", dest="aspect_ratio", help="e.g. 1:1, 16:9 (default: the parent's)")
    r.add_argument("--size", help="512, 1K, 2K or 4K (default: the parent's)")
    endpoint_options(r)
    r.add_argument("--timeout", type=float, default=None, help="seconds to wait for the answer (default 120)")
    r.add_argument("--library", help="library folder")
    r.add_argument("--json", action="store_true", help="print one JSON object")

    t = sub.add_parser("thread", help="show the turns from a thread's root to a generation")
    t.add_argument("generation_id", help="the generation's id (or its first 8+ characters)")
    t.add_argument("--library", help="library folder")
    t.add_argument("--json", action="store_true")


def cmd_refine(args, services) -> int:
    from services import cli  # its shared helpers (imported here: cli imports this module at the top)

    prompt = cli._read_prompt(args.prompt)
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise InputError("--timeout must be between 0 and 3600 seconds.")
    if args.image_index < 0:
        raise InputError("--image-index counts from 0.")
    try:
        endpoint = services.endpoint(args.endpoint, args.auth)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    references = tuple(load_reference(p) for p in args.image)
    library = services.open_library(args.library)
    try:
        generation_id = conversation.resolve_generation(library, args.generation_id)
        refine = conversation.prepare(
            library,
            generation_id,
            prompt,
            endpoint_label=endpoint.label,
            image_index=args.image_index,
            references=references,
            model=args.model,
            aspect_ratio=args.aspect_ratio,
            size=args.size,
        )
        request = refine.request
        model = services.catalog.resolve(request.model, request.protocol)
        validate(request, model)
        estimate = conversation.estimate(request, model)
        service = GenerationService(services.catalog, library, ledger=services.ledger())
        if not args.json:
            print(
                f"Refining image {args.image_index} of {generation_id[:8]} with {model.id} on {endpoint.label} "
                f"({estimate['input_images']} image(s) sent again, about {estimate['input_tokens']} input tokens)…",
                flush=True,
            )
            if refine.note:
                print(f"  note: {refine.note}", flush=True)
        timeout = args.timeout or float(services.settings.get("timeout_s", 120))
        result = asyncio.run(
            service.generate(request, endpoint=endpoint, key=services.key_for(endpoint), timeout=timeout)
        )
        conversation.explain(result)
    finally:
        library.close()
    if args.json:
        out = result.as_json()
        out["parent_generation_id"] = generation_id
        out["thread_id"] = request.lineage["thread_id"]
        out["note"] = refine.note
        print(json.dumps(out, ensure_ascii=False))
    else:
        cli._describe_result(result)
        print(f"  generation {result.generation_id}  (thread {request.lineage['thread_id']})")
    return cli.exit_code(result)


def cmd_thread(args, services) -> int:
    library = services.open_library(args.library)
    try:
        generation_id = conversation.resolve_generation(library, args.generation_id)
        entries = library.thread(generation_id)
    finally:
        library.close()
    turns = [
        {
            "generation_id": e.generation_id,
            "parent_generation_id": e.lineage_json()["parent_generation_id"],
            "prompt": e.prompt,
            "model": e.model,
            "status": str(e.status),
            "text": e.text,
            "images": [i.as_json() for i in e.images],
        }
        for e in entries
    ]
    if args.json:
        print(json.dumps(turns, ensure_ascii=False))
        return EXIT_OK
    for depth, turn in enumerate(turns):
        count = len(turn["images"])
        print(f"{'  ' * depth}{turn['generation_id'][:8]}  {turn['status']:<9} {count} image(s)  {turn['prompt'][:80]}")
    return EXIT_OK
