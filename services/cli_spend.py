"""The command line for money: `spend` (what was spent) and `budget` (daily and monthly caps). A contract.

    spend [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by day|model|endpoint] [--json]
        -> {total_usd, estimated_usd, attempts, images, rows: [{key, usd, images, attempts}]}
    budget set [--daily USD] [--monthly USD] [--endpoint NAME] [--json]
    budget show|clear [--endpoint NAME] [--json]

Dates are local days, both ends included; without --since, from the first record; without --until, through today.
NAME is google, chainhub, a custom endpoint's URL, or `all` (the default: every endpoint together).
Exit codes: 0 done; 2 bad input (a malformed date, a negative cap...); 6 the ledger file cannot be used.
`generate` refuses a job that would cross a cap with exit 7 (`guard_generate`, `refusal_json`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from services import endpoints
from services.endpoints import Endpoint
from services.errors import BudgetError, InputError, LedgerError
from services.ledger import GROUPINGS, Ledger, endpoint_key, ledger_path
from services.pricing import estimate_job
from services.spending import Budget, this_month, usd_text
from services.types import GenerationRequest

EXIT_OK, EXIT_INPUT, EXIT_LEDGER, EXIT_BUDGET = 0, 2, 6, 7


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-23") from None


def parse_usd(text: str) -> float:
    try:
        value = float(text.strip().removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in dollars like 5 or 12.50") from None
    if not (0 <= value < 1e9):
        raise argparse.ArgumentTypeError(f"a cap must be 0 dollars or more, not {text}")
    return value


def add_commands(sub) -> None:
    """Adds `spend` and `budget` to the main parser's subparsers."""
    s = sub.add_parser("spend", help="what was spent, by day, model or endpoint")
    s.add_argument("--since", type=parse_day, help="first local day, YYYY-MM-DD (default: the first record)")
    s.add_argument("--until", type=parse_day, help="last local day, YYYY-MM-DD (default: today)")
    s.add_argument("--by", choices=GROUPINGS, default="day")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    b = sub.add_parser("budget", help="daily and monthly spending caps, per endpoint or for all")
    b.add_argument("action", choices=("set", "show", "clear"))
    b.add_argument("--daily", type=parse_usd, metavar="USD", help="cap per local day (set)")
    b.add_argument("--monthly", type=parse_usd, metavar="USD", help="cap per calendar month (set)")
    b.add_argument("--endpoint", default="all", metavar="NAME", help="google, chainhub, a URL, or all (default)")
    b.add_argument("--json", action="store_true", help="print one JSON object")


def budget_scope(name: str) -> str | None:
    """The ledger's name for an endpoint given on the command line; None: all endpoints."""
    lowered = name.strip().lower()
    if lowered in ("all", "*", ""):
        return None
    if lowered == "demo":
        raise InputError("The demo endpoint is free: it needs no budget.")
    if lowered in ("google", "chainhub") or "://" in name or "." in name:
        try:
            return endpoint_key(endpoints.resolve(name))
        except ValueError as exc:
            raise InputError(str(exc)) from None
    raise InputError(f"Unknown endpoint {name!r}: use google, chainhub, a custom endpoint's URL, or all.")


def cmd_spend(args, services) -> int:
    if args.since and args.until and args.since > args.until:
        raise InputError(f"--since ({args.since}) is after --until ({args.until}).")
    until = args.until or date.today()
    with _ledger(services) as ledger:
        summary = ledger.summary(args.since, until, by=args.by)
    if args.json:
        print(json.dumps(summary.as_json()))
        return EXIT_OK
    span = f"from {args.since} to {until}" if args.since else f"through {until}"
    print(
        f"Spent {usd_text(summary.total_usd)} {span}: {summary.images} image{'s' if summary.images != 1 else ''}"
        f" in {summary.attempts} attempt{'s' if summary.attempts != 1 else ''}."
    )
    if summary.estimated_usd:
        print(f"  {usd_text(summary.estimated_usd)} of it is estimated (no usage came back from the server).")
    if summary.unpriced:
        print(f"  {summary.unpriced} attempt(s) used a model whose price Atelier does not know; not in the total.")
    for row in summary.rows:
        print(f"  {row.key:<32} {usd_text(row.usd):>10} {row.images:>6} images {row.attempts:>6} attempts")
    return EXIT_OK


def cmd_budget(args, services) -> int:
    scope = budget_scope(args.endpoint)
    if args.action != "set" and (args.daily is not None or args.monthly is not None):
        raise InputError(f"--daily and --monthly go with `budget set`, not `budget {args.action}`.")
    with _ledger(services) as ledger:
        if args.action == "set":
            if args.daily is None and args.monthly is None:
                raise InputError("Give --daily USD, --monthly USD, or both.")
            budgets = [ledger.set_budget(scope, args.daily, args.monthly)]
        elif args.action == "clear":
            cleared = ledger.clear(scope)
            if args.json:
                print(json.dumps({"endpoint": scope or "all", "cleared": cleared}))
            else:
                print(
                    f"Removed the caps {_scope_text(scope)}."
                    if cleared
                    else f"There were no caps {_scope_text(scope)}."
                )
            return EXIT_OK
        else:
            budgets = [b for b in ledger.budgets() if scope is None or b.endpoint == scope]
        shown = [_with_spending(ledger, b) for b in budgets]
    if args.json:
        print(json.dumps(shown[0] if args.action == "set" else {"budgets": shown}))
        return EXIT_OK
    if not shown:
        print("No budgets set." if scope is None else f"No caps {_scope_text(scope)}.")
    for b in shown:
        print(f"Caps {_scope_text(b['endpoint'] if b['endpoint'] != 'all' else None)}:")
        for period, cap, spent, when in (
            ("daily", b["daily_usd"], b["spent_today_usd"], "today"),
            ("monthly", b["monthly_usd"], b["spent_month_usd"], "this month"),
        ):
            if cap is None:
                print(f"  {period:<8} none ({usd_text(spent)} spent {when})")
            else:
                print(
                    f"  {period:<8} {usd_text(cap)}: {usd_text(spent)} spent {when}, {usd_text(max(0, cap - spent))} left"
                )
    return EXIT_OK


def _with_spending(ledger: Ledger, budget: Budget) -> dict:
    today = date.today()
    return {
        **budget.as_json(),
        "spent_today_usd": round(ledger.spent(today, today, budget.endpoint), 6),
        "spent_month_usd": round(ledger.spent(this_month(today)[0], today, budget.endpoint), 6),
    }


def _scope_text(scope: str | None) -> str:
    return "for all endpoints" if scope is None else f"for {scope}"


@contextmanager
def _ledger(services) -> Iterator[Ledger]:
    """The user's ledger for one command; a file that cannot be used is a LedgerError (exit 6)."""
    ledger = Ledger(ledger_path(services.paths))
    try:
        yield ledger
    finally:
        ledger.close()


def run(handler, args, services) -> int:
    try:
        return handler(args, services)
    except LedgerError as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return EXIT_LEDGER


HANDLERS = {
    "spend": lambda args, services: run(cmd_spend, args, services),
    "budget": lambda args, services: run(cmd_budget, args, services),
}


# --- the guard `generate` calls before sending (wired by the lead) ---------------------------------------------
def guard_generate(ledger: Ledger, endpoint: Endpoint, request: GenerationRequest, model_id: str) -> float | None:
    """Raises BudgetError when the request's estimated cost would cross a cap; returns the estimate (None: price
    unknown). Call it before anything is sent."""
    estimate = estimate_job(model_id, request.count, request.size, len(request.references))
    if endpoint.name != "demo":
        ledger.check(endpoint_key(endpoint), estimate)
    return estimate


def refusal_json(error: BudgetError, model_id: str) -> dict:
    """`generate --json`'s object for a job refused by a budget (exit 7): status `budget`, nothing sent."""
    return {
        "status": "budget",
        "generation_id": None,
        "model": model_id,
        "images": [],
        "text": "",
        "reason": str(error),
        "error": {"http_status": None, "status": "BUDGET", "message": str(error)},
        "attempts": 0,
        "cost_usd": None,
    }
