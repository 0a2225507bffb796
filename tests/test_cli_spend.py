"""`spend` and `budget` as scripts use them: a real process, the user's ledger file, JSON and exit codes."""

import json
from datetime import date, datetime, timedelta

import pytest

from services import endpoints
from services.errors import BudgetError
from services.ledger import Ledger
from services.spending import SpendRecord
from services.status import ErrorKind
from services.types import GenerationRequest
from tests.test_cli import atelier

CONTRACT = {"total_usd", "estimated_usd", "attempts", "images", "rows"}


def history(home):
    """Three weeks of spending, written through the ledger's public API into the user data folder."""
    ledger = Ledger(home / "data" / "spending.sqlite3")
    today = date.today()
    for gid, days_ago, usd, model, endpoint, estimated in [
        ("a", 20, 0.134, "gemini-3-pro-image", "google", False),
        ("b", 3, 0.067, "gemini-3.1-flash-image", "google", False),
        ("c", 3, 0.24, "gemini-3-pro-image", "chainhub", True),
        ("d", 0, 0.04, "imagen-4.0-generate-001", "chainhub", False),
    ]:
        when = datetime.combine(today - timedelta(days=days_ago), datetime.min.time()) + timedelta(hours=12)
        ledger.record(SpendRecord(gid, "/lib", endpoint, model, usd, estimated, 1, when.timestamp()))
    ledger.close()
    return today


def spend_json(*args):
    code, out, err = atelier("spend", *args, "--json")
    assert "Traceback" not in err, err
    return code, json.loads(out), err


def test_spend_json_contract_and_groupings(isolated_home):
    today = history(isolated_home)
    code, body, _ = spend_json()
    assert code == 0 and set(body) == CONTRACT
    assert body["total_usd"] == pytest.approx(0.481) and body["estimated_usd"] == pytest.approx(0.24)
    assert (body["attempts"], body["images"]) == (4, 4)
    assert [r["key"] for r in body["rows"]] == [
        (today - timedelta(days=20)).isoformat(),
        (today - timedelta(days=3)).isoformat(),
        today.isoformat(),
    ]
    assert all(set(r) == {"key", "usd", "images", "attempts"} for r in body["rows"])
    _, by_model, _ = spend_json("--by", "model")
    assert [(r["key"], round(r["usd"], 3)) for r in by_model["rows"]] == [
        ("gemini-3-pro-image", 0.374),
        ("gemini-3.1-flash-image", 0.067),
        ("imagen-4.0-generate-001", 0.04),
    ]
    since = (today - timedelta(days=7)).isoformat()
    _, week, _ = spend_json("--since", since, "--until", today.isoformat(), "--by", "endpoint")
    assert [(r["key"], r["attempts"]) for r in week["rows"]] == [("chainhub", 2), ("google", 1)]
    assert week["total_usd"] == pytest.approx(0.347)
    code, out, _ = atelier("spend", "--by", "model")
    assert code == 0 and "gemini-3-pro-image" in out and "$0.240 of it is estimated" in out


@pytest.mark.parametrize(
    "args,words",
    [
        (["spend", "--since", "2026-13-01"], "not a date"),
        (["spend", "--until", "yesterday"], "not a date"),
        (["spend", "--since", "2026-11-20", "--until", "2026-11-01"], "is after --until"),
        (["spend", "--by", "week"], "invalid choice"),
        (["budget", "set", "--daily", "-1"], "0 dollars or more"),
        (["budget", "set", "--monthly", "lots"], "not an amount"),
        (["budget", "set"], "--daily USD, --monthly USD"),
        (["budget", "set", "--daily", "1", "--endpoint", "demo"], "free"),
        (["budget", "show", "--endpoint", "gogle"], "Unknown endpoint"),
        (["budget", "show", "--daily", "3"], "go with `budget set`"),
    ],
)
def test_bad_input_exits_2_with_a_sentence(args, words):
    code, out, err = atelier(*args, "--json")
    assert code == 2 and "Traceback" not in err and words in json.loads(out)["error"]["message"], (out, err)


def test_budget_set_show_clear(isolated_home):
    history(isolated_home)
    code, out, _ = atelier("budget", "set", "--daily", "5", "--json")
    assert code == 0 and json.loads(out)["endpoint"] == "all" and json.loads(out)["daily_usd"] == 5
    code, out, _ = atelier("budget", "set", "--monthly", "$40", "--endpoint", "chainhub", "--json")
    chainhub = json.loads(out)
    assert chainhub == {
        "endpoint": "chainhub",
        "daily_usd": None,
        "monthly_usd": 40.0,
        "spent_today_usd": pytest.approx(0.04),
        "spent_month_usd": chainhub["spent_month_usd"],  # depends on the calendar; checked through the ledger
    }
    code, out, _ = atelier("budget", "show", "--json")
    assert [b["endpoint"] for b in json.loads(out)["budgets"]] == ["all", "chainhub"]
    code, out, _ = atelier("budget", "show")
    assert code == 0 and "daily    $5.00: $0.040 spent today, $4.96 left" in out
    code, out, _ = atelier("budget", "clear", "--endpoint", "chainhub", "--json")
    assert json.loads(out) == {"endpoint": "chainhub", "cleared": True}
    code, out, _ = atelier("budget", "show", "--endpoint", "chainhub", "--json")
    assert code == 0 and json.loads(out) == {"budgets": []}
    assert [b.endpoint for b in Ledger(isolated_home / "data" / "spending.sqlite3").budgets()] == [None]


def test_a_damaged_ledger_exits_6_with_a_sentence(isolated_home):
    (isolated_home / "data").mkdir(parents=True)
    (isolated_home / "data" / "spending.sqlite3").write_bytes(b"garbage" * 500)
    code, _, err = atelier("spend")
    assert code == 6 and "Traceback" not in err and "spending ledger" in err and "damaged" in err


def test_generate_guard_refuses_before_sending(tmp_path):
    from services.cli_spend import EXIT_BUDGET, guard_generate, refusal_json

    ledger = Ledger(tmp_path / "spending.sqlite3")
    ledger.record(SpendRecord("x", "/lib", "google", "gemini-3-pro-image", 0.90, images=1))
    ledger.set_budget("google", daily=1.0)
    request = GenerationRequest("a fox", "gemini-3-pro-image", count=2, size="1K")
    assert guard_generate(ledger, endpoints.chainhub(), request, request.model) == pytest.approx(0.2688)
    assert guard_generate(ledger, endpoints.demo(), request, request.model) == pytest.approx(0.2688)
    with pytest.raises(BudgetError) as caught:
        guard_generate(ledger, endpoints.google(), request, request.model)
    assert caught.value.kind == ErrorKind.BUDGET and caught.value.left == pytest.approx(0.1)
    body = refusal_json(caught.value, request.model)
    assert body["status"] == "budget" and body["attempts"] == 0 and EXIT_BUDGET == 7
    assert "daily cap of $1.00 for google" in body["reason"] and "$0.100 left" in body["reason"]
    custom = endpoints.custom("https://proxy.example/v1beta")
    ledger.set_budget("https://proxy.example", daily=0.1)
    with pytest.raises(BudgetError, match="for https://proxy.example"):
        guard_generate(ledger, custom, request, request.model)
    ledger.close()
