"""The spending ledger: a real SQLite file in the user data folder, two processes, local days, budgets."""

import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from services.errors import BudgetError, LedgerError
from services.ledger import Ledger, ledger_path
from services.pricing import usage_from_metadata
from services.settings import AppPaths
from services.spending import SpendRecord, this_month, this_week
from services.status import ErrorKind

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 15, 0)


def at(*args) -> float:
    return datetime(*args).timestamp()


def rec(gid, usd, *, when=NOW, endpoint="google", model="gemini-3-pro-image", library="/lib/a", **kw):
    return SpendRecord(gid, library, endpoint, model, usd, at=when.timestamp(), images=kw.pop("images", 1), **kw)


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "data" / "spending.sqlite3")
    yield ledger
    ledger.close()


def test_lives_in_the_user_data_folder_not_in_a_library(isolated_home):
    assert ledger_path(AppPaths.from_environment()) == isolated_home / "data" / "spending.sqlite3"


def test_a_record_counts_once_and_an_exact_cost_replaces_an_estimate(ledger):
    assert ledger.record(rec("g1", 0.134, estimated=True))
    assert not ledger.record(rec("g1", 0.134, estimated=True))  # the same record again: a retry, a rebuild
    assert ledger.spent(None, None) == pytest.approx(0.134)
    assert ledger.record(rec("g1", 0.1344, estimated=False))  # the server's usage arrived later
    assert not ledger.record(rec("g1", 0.5, estimated=True))  # an estimate never overwrites a billed figure
    s = ledger.summary(None, None)
    assert (s.total_usd, s.estimated_usd, s.attempts) == (pytest.approx(0.1344), 0.0, 1)
    ledger.record(rec("g1", 0.134, part=1))  # the second request of the same generation
    ledger.record(rec("g1", 0.134, library="/lib/b"))  # the same id in another library is another generation
    assert ledger.summary(None, None).attempts == 3


def test_the_demo_endpoint_is_never_recorded(ledger):
    assert not ledger.record(rec("d1", 0.0, endpoint="demo"))
    assert ledger.summary(None, None).attempts == 0


def test_priced_record_from_usage_and_unknown_prices(ledger):
    usage = usage_from_metadata(
        {
            "usageMetadata": {
                "promptTokenCount": 1129,
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 2000}],
            }
        }
    )
    ok = SpendRecord.priced(
        generation_id="g", library="/l", endpoint="google", model="gemini-3-pro-image", usage=usage, images=1
    )
    assert (ok.usd, ok.estimated, ok.input_tokens, ok.image_tokens) == (pytest.approx(0.24), False, 1129, 2000)
    batch = SpendRecord.priced(
        generation_id="b", library="/l", endpoint="google", model="gemini-3-pro-image", usage=usage, images=1,
        batch=True,
    )  # fmt: skip
    lost = SpendRecord.priced(
        generation_id="n", library="/l", endpoint="chainhub", model="gemini-3-pro-image", usage=None, images=1,
        size="4K", status="ok",
    )  # fmt: skip
    blocked = SpendRecord.priced(
        generation_id="x", library="/l", endpoint="google", model="gemini-nano-banana-2.1", usage=usage, images=0,
        status="blocked",
    )  # fmt: skip
    for r in (ok, batch, lost, blocked):
        ledger.record(r)
    s = ledger.summary(None, None, by="model")
    assert s.total_usd == pytest.approx(0.24 + 0.12 + 0.24) and s.estimated_usd == pytest.approx(0.24)
    assert (s.attempts, s.images, s.unpriced) == (4, 3, 1)
    assert [(r.key, r.attempts) for r in s.rows] == [("gemini-3-pro-image", 3), ("gemini-nano-banana-2.1", 1)]


def test_summary_by_day_model_endpoint_in_a_range(ledger):
    ledger.record(rec("a", 0.10, when=datetime(2026, 11, 2, 10), endpoint="chainhub"))
    ledger.record(rec("b", 0.20, when=datetime(2026, 11, 20, 9)))
    ledger.record(rec("c", 0.30, when=datetime(2026, 11, 20, 18), model="gemini-3.1-flash-image", images=2))
    ledger.record(rec("d", 0.40, when=datetime(2026, 10, 31, 23, 59)))
    by_day = ledger.summary(date(2026, 11, 1), date(2026, 11, 30), by="day")
    assert [(r.key, round(r.usd, 2), r.images, r.attempts) for r in by_day.rows] == [
        ("2026-11-02", 0.10, 1, 1),
        ("2026-11-20", 0.50, 3, 2),
    ]
    assert by_day.as_json()["total_usd"] == pytest.approx(0.6) and by_day.as_json()["images"] == 4
    by_endpoint = ledger.summary(date(2026, 11, 1), None, by="endpoint")
    assert [r.key for r in by_endpoint.rows] == ["google", "chainhub"]  # most spent first
    assert ledger.spent(date(2026, 11, 20), date(2026, 11, 20)) == pytest.approx(0.5)
    assert ledger.spent(date(2026, 11, 1), date(2026, 11, 30), endpoint="chainhub") == pytest.approx(0.1)
    with pytest.raises(ValueError):
        ledger.summary(None, None, by="week")


def test_days_are_local_days(ledger, monkeypatch):
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        ledger.record(rec("late", 1.0, when=datetime(2026, 11, 20, 23, 30)))  # 07:30 UTC on the 21st
        ledger.record(rec("early", 2.0, when=datetime(2026, 11, 21, 0, 30)))
        rows = ledger.summary(None, None, by="day").rows
        assert [(r.key, r.usd) for r in rows] == [("2026-11-20", 1.0), ("2026-11-21", 2.0)]
        assert ledger.spent(date(2026, 11, 20), date(2026, 11, 20)) == 1.0
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_periods():
    assert this_week(date(2026, 11, 26)) == (date(2026, 11, 23), date(2026, 11, 26))  # Monday to today
    assert this_month(date(2026, 11, 26)) == (date(2026, 11, 1), date(2026, 11, 26))


WRITER = """
import sys
from services.ledger import Ledger
from services.spending import SpendRecord
ledger = Ledger(sys.argv[1])
for i in range(40):
    ledger.record(SpendRecord(f"{sys.argv[2]}-{i}", "/lib", "google", "gemini-3-pro-image", 0.01, images=1))
    ledger.record(SpendRecord(f"shared-{i}", "/lib", "google", "gemini-3-pro-image", 0.01, images=1))
"""


def test_two_processes_write_at_once_and_nothing_is_lost_or_doubled(tmp_path):
    path = tmp_path / "spending.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], env=env, cwd=ROOT, stderr=subprocess.PIPE)
        for name in ("one", "two")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    ledger = Ledger(path)
    summary = ledger.summary(None, None)
    assert summary.attempts == 120 and summary.total_usd == pytest.approx(1.2)
    ledger.close()


def test_budgets_set_merge_clear(ledger):
    assert ledger.budgets() == []
    ledger.set_budget(None, daily=5)
    budget = ledger.set_budget(None, monthly=50)  # a cap not given stays as it was
    assert (budget.daily, budget.monthly) == (5, 50)
    ledger.set_budget("google", daily=1)
    assert [(b.endpoint, b.daily, b.monthly) for b in ledger.budgets()] == [(None, 5, 50), ("google", 1, None)]
    assert ledger.clear("google") and not ledger.clear("google")
    assert [b.endpoint for b in ledger.budgets()] == [None]
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="0 or more"):
            ledger.set_budget(None, daily=bad)
    with pytest.raises(ValueError, match="free"):
        ledger.set_budget("demo", daily=1)


def test_check_refuses_a_job_that_would_cross_a_cap(ledger):
    ledger.record(rec("a", 0.90, when=datetime(2026, 11, 23, 9)))
    ledger.record(rec("b", 3.00, when=datetime(2026, 11, 2, 9)))
    ledger.record(rec("c", 9.00, when=datetime(2026, 10, 30, 9)))  # last month: not in this month's cap
    ledger.record(rec("d", 0.50, when=datetime(2026, 11, 23, 9), endpoint="chainhub"))
    ledger.set_budget("google", daily=1.00)
    ledger.check("google", 0.10, NOW)  # exactly reaches the cap: allowed
    with pytest.raises(BudgetError) as caught:
        ledger.check("google", 0.134, NOW)
    error = caught.value
    assert error.kind == ErrorKind.BUDGET and (error.period, error.endpoint) == ("daily", "google")
    assert str(error) == (
        "This job (about $0.134) would cross the daily cap of $1.00 for google: $0.900 spent today, $0.100 left."
    )
    ledger.check("chainhub", 0.134, NOW)  # google's cap is google's
    ledger.set_budget(None, monthly=5.00)
    with pytest.raises(BudgetError, match=r"monthly cap of \$5.00 for all endpoints: \$4.40 spent this month, \$0.600"):
        ledger.check("chainhub", 0.70, NOW)
    ledger.check("demo", 1000, NOW)  # free, never refused
    ledger.check("google", 0.05, datetime(2026, 11, 24, 8))  # a new local day


def test_jobs_on_their_way_count_against_the_cap(ledger):
    ledger.record(rec("a", 0.50))
    ledger.set_budget("google", daily=1.0)
    ledger.check("google", 0.134, NOW, pending={"google": 0.30, "chainhub": 5.0, "demo": 9.0})
    with pytest.raises(BudgetError) as caught:
        ledger.check("google", 0.134, NOW, pending={"google": 0.40})
    assert str(caught.value) == (
        "This job (about $0.134) would cross the daily cap of $1.00 for google: $0.500 spent today and about $0.400"
        " on its way, $0.100 left."
    )
    assert caught.value.left == pytest.approx(0.1)
    ledger.set_budget(None, daily=1.0)  # the cap for all endpoints counts every endpoint's jobs on their way
    with pytest.raises(BudgetError, match="for all endpoints"):
        ledger.check("google", 0.134, NOW, pending={"chainhub": 0.40})


def test_a_job_of_unknown_price_is_refused_only_once_the_cap_is_reached(ledger):
    ledger.set_budget(None, daily=1.0)
    ledger.check("google", None, NOW)
    ledger.record(rec("a", 1.0))
    with pytest.raises(BudgetError, match=r"daily cap of \$1.00 for all endpoints is reached: \$1.00 spent today"):
        ledger.check("google", None, NOW)


def test_a_damaged_ledger_is_one_sentence(tmp_path):
    path = tmp_path / "spending.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="spending ledger .* cannot be used: it is damaged"):
        Ledger(path).summary(None, None)


def test_breakdown_and_csv(ledger, tmp_path):
    from services.spending import write_csv

    ledger.record(rec("a", 0.134, when=datetime(2026, 11, 20, 9)))
    ledger.record(rec("b", 0.24, when=datetime(2026, 11, 20, 10), estimated=True))
    ledger.record(rec("c", 0.04, when=datetime(2026, 11, 21, 9), endpoint="chainhub", model="imagen-4.0-generate-001"))
    rows = ledger.breakdown(date(2026, 11, 1), date(2026, 11, 30))
    path = tmp_path / "out" / "spending.csv"
    write_csv(path, rows)
    assert path.read_text().splitlines() == [
        "day,endpoint,model,usd,estimated_usd,images,attempts",
        "2026-11-20,google,gemini-3-pro-image,0.374000,0.240000,2,2",
        "2026-11-21,chainhub,imagen-4.0-generate-001,0.040000,0.000000,1,1",
    ]
