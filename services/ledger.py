"""The spending ledger: what this user spent on this computer, across all their libraries, and the budgets.

It lives in the user data folder (`ledger_path`), never in a library's index, so rebuilding an index or switching
libraries neither loses nor resets it. A small SQLite file in WAL mode with a busy timeout: the window and a
command line can use it at once.

Days and months are local time: a day runs from local midnight to local midnight (DST-aware), a week starts on
Monday, a month on the 1st. Timestamps are stored as UTC epoch seconds; SQLite's 'localtime' and Python's naive
datetimes both follow the process's time zone (TZ).

The demo endpoint is free: it is never recorded and never checked.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

from services.endpoints import Endpoint
from services.errors import BudgetError, LedgerError
from services.settings import AppPaths
from services.spending import BreakdownRow, Budget, SpendRecord, Summary, SummaryRow, local_start, usd_text

LEDGER_FILE = "spending.sqlite3"
ALL = "*"  # the budget row that caps every endpoint together
FREE_ENDPOINTS = frozenset({"demo"})
GROUPINGS = ("day", "model", "endpoint")

SCHEMA = [
    """
    CREATE TABLE attempts(
        library TEXT NOT NULL,
        generation_id TEXT NOT NULL,
        part INTEGER NOT NULL DEFAULT 0,
        at REAL NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,
        usd REAL,
        estimated INTEGER NOT NULL DEFAULT 0,
        images INTEGER NOT NULL DEFAULT 0,
        batch INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        image_tokens INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(library, generation_id, part)
    );
    CREATE INDEX attempts_at ON attempts(at);
    CREATE TABLE budgets(endpoint TEXT PRIMARY KEY, daily REAL, monthly REAL);
    """,
]


def ledger_path(paths: AppPaths) -> Path:
    return paths.data / LEDGER_FILE


def endpoint_key(endpoint: Endpoint) -> str:
    """The name spending is recorded and capped under: google, chainhub, demo, or a custom endpoint's base URL
    (two proxies are two endpoints)."""
    return endpoint.base_url if endpoint.name == "custom" else endpoint.name


class Ledger:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # --- connection --------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """Two processes opening a new ledger at once race to switch it to WAL and create its tables; SQLite answers
        the loser "locked" at once there (its busy handler does not cover a journal-mode change), so the loser
        waits and tries again, for up to 10 s."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA busy_timeout=10000")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for step, script in enumerate(SCHEMA[version:], start=version + 1):
                    db.execute("BEGIN IMMEDIATE")
                    if db.execute("PRAGMA user_version").fetchone()[0] < step:  # another process may have won
                        for statement in script.split(";"):
                            if statement.strip():
                                db.execute(statement)
                        db.execute(f"PRAGMA user_version={step}")
                    db.execute("COMMIT")
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _run(self, work):
        """Runs `work(db)` under the lock; a SQLite failure becomes one sentence naming the file."""
        with self._lock:
            try:
                return work(self._connect())
            except sqlite3.DatabaseError as exc:
                if self._db is not None and self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                text = str(exc)
                if "locked" in text or "busy" in text:
                    why = "another Atelier is using it; try again in a moment"
                elif isinstance(exc, sqlite3.OperationalError) and "unable to open" in text:
                    why = "the folder cannot be written"
                else:
                    why = f"it is damaged ({text}); move it aside and Atelier starts a new one"
                raise LedgerError(f"The spending ledger {self.path} cannot be used: {why}.") from None
            except OSError as exc:
                raise LedgerError(f"The spending ledger {self.path} cannot be used: {exc.strerror}.") from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- recording ---------------------------------------------------------------------------------------------
    def record(self, attempt: SpendRecord) -> bool:
        """Counts one attempt once. A second record with the same identity changes nothing, except that a cost from
        usage replaces an estimate, and a known price an unknown one. False: not counted (demo, or already there)."""
        if attempt.endpoint in FREE_ENDPOINTS:
            return False
        a = attempt
        values = (
            str(a.library), a.generation_id, int(a.part), float(a.at), a.endpoint, a.model, a.status, a.usd,
            int(a.estimated), int(a.images), int(a.batch), int(a.input_tokens), int(a.output_tokens),
            int(a.image_tokens),
        )  # fmt: skip

        def work(db):
            cursor = db.execute(
                "INSERT INTO attempts(library, generation_id, part, at, endpoint, model, status, usd, estimated,"
                " images, batch, input_tokens, output_tokens, image_tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(library, generation_id, part) DO UPDATE SET usd=excluded.usd,"
                " estimated=excluded.estimated, images=excluded.images, status=excluded.status,"
                " input_tokens=excluded.input_tokens, output_tokens=excluded.output_tokens,"
                " image_tokens=excluded.image_tokens"
                " WHERE (attempts.estimated AND NOT excluded.estimated AND excluded.usd IS NOT NULL)"
                " OR (attempts.usd IS NULL AND excluded.usd IS NOT NULL)",
                values,
            )
            return cursor.rowcount > 0

        return self._run(work)

    # --- reading -----------------------------------------------------------------------------------------------
    @staticmethod
    def _where(since: date | None, until: date | None, endpoint: str | None) -> tuple[str, list]:
        clauses, params = [], []
        if since is not None:
            clauses.append("at >= ?")
            params.append(local_start(since))
        if until is not None:
            clauses.append("at < ?")
            params.append(local_start(until + timedelta(days=1)))
        if endpoint is not None:
            clauses.append("endpoint = ?")
            params.append(endpoint)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def spent(self, since: date | None, until: date | None, endpoint: str | None = None) -> float:
        """USD spent from the start of local day `since` to the end of local day `until` (both inclusive)."""
        where, params = self._where(since, until, endpoint)
        row = self._run(lambda db: db.execute(f"SELECT COALESCE(SUM(usd), 0) FROM attempts{where}", params).fetchone())
        return float(row[0])

    def summary(self, since: date | None, until: date | None, by: str = "day", endpoint: str | None = None) -> Summary:
        if by not in GROUPINGS:
            raise ValueError(f"Group by one of {', '.join(GROUPINGS)}, not {by!r}.")
        where, params = self._where(since, until, endpoint)
        key = {"day": "date(at, 'unixepoch', 'localtime')", "model": "model", "endpoint": "endpoint"}[by]
        order = "k" if by == "day" else "usd DESC, k"

        def work(db):
            totals = db.execute(
                "SELECT COALESCE(SUM(usd), 0), COALESCE(SUM(CASE WHEN estimated THEN usd END), 0), COUNT(*),"
                f" COALESCE(SUM(images), 0), COUNT(*) - COUNT(usd) FROM attempts{where}",
                params,
            ).fetchone()
            rows = db.execute(
                f"SELECT {key} AS k, COALESCE(SUM(usd), 0) AS usd, SUM(images), COUNT(*) FROM attempts{where}"
                f" GROUP BY k ORDER BY {order}",
                params,
            ).fetchall()
            return totals, rows

        totals, rows = self._run(work)
        return Summary(
            total_usd=float(totals[0]),
            estimated_usd=float(totals[1]),
            attempts=int(totals[2]),
            images=int(totals[3]),
            unpriced=int(totals[4]),
            rows=[SummaryRow(str(k), float(usd), int(images), int(n)) for k, usd, images, n in rows],
        )

    def breakdown(self, since: date | None, until: date | None) -> list[BreakdownRow]:
        """Spending per local day, endpoint and model, oldest day first (what Export CSV writes)."""
        where, params = self._where(since, until, None)
        rows = self._run(
            lambda db: db.execute(
                "SELECT date(at, 'unixepoch', 'localtime') AS d, endpoint, model, COALESCE(SUM(usd), 0),"
                " COALESCE(SUM(CASE WHEN estimated THEN usd END), 0), SUM(images), COUNT(*)"
                f" FROM attempts{where} GROUP BY d, endpoint, model ORDER BY d, endpoint, model",
                params,
            ).fetchall()
        )
        return [BreakdownRow(str(d), e, m, float(u), float(eu), int(i), int(n)) for d, e, m, u, eu, i, n in rows]

    # --- budgets -----------------------------------------------------------------------------------------------
    def set_budget(self, endpoint: str | None, daily: float | None = None, monthly: float | None = None) -> Budget:
        """Sets the caps given (USD, >= 0) for one endpoint, or for all with None; a cap passed as None is left as
        it was. Returns the budget as it now stands."""
        if endpoint in FREE_ENDPOINTS:
            raise ValueError(f"The {endpoint} endpoint is free: it needs no budget.")
        for name, cap in (("daily", daily), ("monthly", monthly)):
            if cap is not None and not (cap >= 0 and cap < float("inf")):
                raise ValueError(f"The {name} cap must be a number of dollars, 0 or more, not {cap}.")
        scope = endpoint or ALL

        def work(db):
            db.execute(
                "INSERT INTO budgets(endpoint, daily, monthly) VALUES (?,?,?) ON CONFLICT(endpoint) DO UPDATE SET"
                " daily=COALESCE(excluded.daily, budgets.daily), monthly=COALESCE(excluded.monthly, budgets.monthly)",
                (scope, daily, monthly),
            )
            return db.execute("SELECT daily, monthly FROM budgets WHERE endpoint=?", (scope,)).fetchone()

        row = self._run(work)
        return Budget(endpoint, row[0], row[1])

    def budgets(self) -> list[Budget]:
        """All budgets, the one for all endpoints first."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT endpoint, daily, monthly FROM budgets WHERE daily IS NOT NULL OR monthly IS NOT NULL"
                " ORDER BY endpoint != ?, endpoint",
                (ALL,),
            ).fetchall()
        )
        return [Budget(None if e == ALL else e, d, m) for e, d, m in rows]

    def clear(self, endpoint: str | None = None) -> bool:
        """Removes both caps of one endpoint (None: the caps for all endpoints). False: there were none."""
        scope = endpoint or ALL
        return self._run(lambda db: db.execute("DELETE FROM budgets WHERE endpoint=?", (scope,)).rowcount > 0)

    def check(
        self,
        endpoint: str,
        estimated_usd: float | None,
        now: datetime | None = None,
        pending: Mapping[str, float] | None = None,
    ) -> None:
        """Raises BudgetError when a job of about `estimated_usd` would cross a cap that applies to `endpoint` (its
        own, or the one for all endpoints), today or this month in local time. `pending`: the estimated cost of jobs
        already sent and not yet recorded, by endpoint (a queue running jobs side by side passes it, so four jobs
        started together cannot cross a cap together). A job whose price is unknown (None) is refused only once a
        cap is reached. Nothing is raised for the free demo endpoint."""
        if endpoint in FREE_ENDPOINTS:
            return
        today = (now.astimezone() if now and now.tzinfo else (now or datetime.now())).date()
        cost = estimated_usd or 0.0
        priced = estimated_usd is not None and estimated_usd > 0
        pending = pending or {}
        worst: BudgetError | None = None
        for budget in self.budgets():
            if budget.endpoint not in (None, endpoint):
                continue
            on_the_way = sum(v for k, v in pending.items() if budget.endpoint in (None, k) and k not in FREE_ENDPOINTS)
            for period, cap, since in (
                ("daily", budget.daily, today),
                ("monthly", budget.monthly, today.replace(day=1)),
            ):
                if cap is None:
                    continue
                spent = self.spent(since, today, budget.endpoint)
                committed = spent + on_the_way
                over = committed + cost > cap + 1e-9 if priced else committed >= cap - 1e-9
                if over and (worst is None or cap - committed < worst.left):
                    worst = _budget_error(budget.endpoint, period, cap, spent, estimated_usd, on_the_way)
        if worst is not None:
            raise worst


def _budget_error(
    endpoint: str | None, period: str, cap: float, spent: float, estimated: float | None, on_the_way: float = 0.0
) -> BudgetError:
    scope = f"for {endpoint}" if endpoint else "for all endpoints"
    when = "today" if period == "daily" else "this month"
    left = max(0.0, cap - spent - on_the_way)
    used = f"{usd_text(spent)} spent {when}"
    if on_the_way:
        used += f" and about {usd_text(on_the_way)} on its way"
    if estimated:
        message = (
            f"This job (about {usd_text(estimated)}) would cross the {period} cap of {usd_text(cap)} {scope}: "
            f"{used}, {usd_text(left)} left."
        )
    else:
        message = f"The {period} cap of {usd_text(cap)} {scope} is reached: {used}, {usd_text(left)} left."
    return BudgetError(message, endpoint=endpoint, period=period, cap=cap, spent=spent, estimated=estimated, left=left)
