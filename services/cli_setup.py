"""The `models` and `key` commands: what an endpoint serves, and the API key kept for it."""

from __future__ import annotations

import asyncio
import json
import sys

from services.app import Services
from services.catalog import ModelInfo
from services.errors import ApiError, AtelierError, InputError, NetworkError

EXIT_OK, EXIT_REFUSED, EXIT_NETWORK = 0, 4, 5


def _err(message: str) -> None:
    print(f"atelier: {message}", file=sys.stderr)


def cmd_models(args, services: Services) -> int:
    try:
        endpoint = services.endpoint(args.endpoint, args.auth)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    key = services.key_for(endpoint)
    catalog = services.catalog
    problem: AtelierError | None = None
    if endpoint.needs_key and not key:
        problem = InputError("No API key for this endpoint, so its models were not asked; showing the catalog.")
    else:
        from services.client import GeminiClient

        async def discover():
            async with GeminiClient(endpoint, key, timeout=30) as client:
                return await client.list_models()

        try:
            catalog = catalog.merged_with_discovery(asyncio.run(discover()))
        except (ApiError, NetworkError) as exc:
            problem = exc
    models = catalog.models()
    if args.json:
        print(json.dumps([_model_json(m, endpoint.name) for m in models], ensure_ascii=False))
    else:
        print(f"Models on {endpoint.label}:")
        for m in models:
            price = m.price_per_image(m.default_size)
            price_text = f"${price:.3f}/image" if price is not None else "price unknown"
            state = "available" if m.available_on(endpoint.name) else "not served here"
            if m.served is None and m.google_status == "retired" and endpoint.name == "google":
                state = f"retired {m.retired_on}, use {m.replacement}"
            elif m.google_status == "deprecated" and endpoint.name == "google":
                state = f"deprecated, consider {m.replacement}" if m.replacement else "deprecated"
            print(f"  {m.id:<32} {m.protocol:<16} {price_text:<16} {state}")
    if problem is not None:
        _err(str(problem))
        if isinstance(problem, NetworkError):
            return EXIT_NETWORK
        if isinstance(problem, ApiError):
            return EXIT_REFUSED
    return EXIT_OK


def _model_json(m: ModelInfo, endpoint_name: str) -> dict:
    return {
        "id": m.id,
        "display_name": m.display_name,
        "family": m.family,
        "protocol": m.protocol,
        "available": m.available_on(endpoint_name),
        "served": m.served,
        "google_status": m.google_status,
        "retired_on": m.retired_on,
        "replacement": m.replacement,
        "aspect_ratios": list(m.aspect_ratios),
        "sizes": list(m.sizes),
        "max_count": m.max_count,
        "max_reference_images": m.max_reference_images,
        "price_usd": m.price_usd,
        "known": m.known,
    }


def cmd_key(args, services: Services) -> int:
    store = services.keys
    name = args.endpoint
    if args.action == "status":
        status = store.status(name)
        where = {"keychain": "the system keychain", "file": f"the private file {status.fallback_path}"}
        source = status.source or "none"
        print(f"Key for {name}: {where.get(source, source.replace('environment:', 'environment variable '))}.")
        if status.problem:
            print(status.problem)
        if not status.keychain_available:
            print("This system has no keychain; `key set --allow-file` keeps the key in a file only you can read.")
        return EXIT_OK
    if args.action == "clear":
        try:
            store.clear(name)
        except RuntimeError as exc:  # a locked keychain kept it
            raise InputError(str(exc)) from None
        print(f"Removed the stored key for {name}.")
        return EXIT_OK
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass(f"API key for {name} (not shown): ")
    else:
        key = sys.stdin.readline()
    try:
        where = store.set(name, key, allow_file=args.allow_file)
    except (ValueError, RuntimeError) as exc:
        raise InputError(str(exc)) from None
    print(f"Stored the key for {name} in {'the system keychain' if where == 'keychain' else 'a private file'}.")
    return EXIT_OK
