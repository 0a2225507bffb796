"""Opens the Spending view over five weeks of made-up history, written through the Ledger's public API.

    ../shared/tools/screenshot docs/spending.png 6 python3 docs/spending_screenshot.py

The ledger lives in a temporary folder; nothing of the user's is read or written.
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.ledger import Ledger  # noqa: E402
from services.pricing import IMAGE_TOKENS, usage_from_metadata  # noqa: E402
from services.spending import SpendRecord  # noqa: E402

MODELS = [("gemini-3.1-flash-image", ("1K", "2K", "4K"), 6), ("gemini-3-pro-image", ("1K", "4K"), 3),
          ("imagen-4.0-generate-001", ("1K",), 1)]  # fmt: skip


def make_history(ledger: Ledger, today: date, days: int = 35) -> None:
    rng = random.Random(7)
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        busy = 0.3 if day.weekday() >= 5 else 1.0
        for n in range(int(rng.randint(0, 22) * busy)):
            model, sizes, _ = rng.choices(MODELS, weights=[m[2] for m in MODELS])[0]
            size = rng.choice(sizes)
            when = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.uniform(9, 23))
            endpoint = "google" if rng.random() < 0.7 else "chainhub"
            blocked = rng.random() < 0.05
            tokens = IMAGE_TOKENS.get(model, {}).get(size, 0)
            details = [] if blocked else [{"modality": "IMAGE", "tokenCount": tokens}]
            body = {"usageMetadata": {"promptTokenCount": 40, "candidatesTokensDetails": details}}
            usage = None if model.startswith("imagen") or rng.random() < 0.04 else usage_from_metadata(body)
            record = SpendRecord.priced(
                generation_id=f"{day}-{n}", library="/demo/library", endpoint=endpoint, model=model, usage=usage,
                images=0 if blocked else 1, size=size, batch=rng.random() < 0.1, status="blocked" if blocked else "ok",
                at=min(when.timestamp(), datetime.now().timestamp()),
            )  # fmt: skip
            ledger.record(record)
    ledger.set_budget(None, daily=3.0, monthly=60.0)
    ledger.set_budget("chainhub", monthly=15.0)


def main() -> int:
    import asyncio

    import qasync
    from PySide6.QtCore import QPoint, QTimer
    from PySide6.QtWidgets import QApplication, QToolTip

    from ui.spending import SpendingView

    folder = Path(tempfile.mkdtemp(prefix="atelier-spending-"))
    ledger = Ledger(folder / "spending.sqlite3")
    today = date.today()
    make_history(ledger, today)
    app = QApplication(sys.argv)
    app.setStyle("Fusion")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    view = SpendingView(ledger)
    view.move(60, 40)
    view.resize(1000, 720)
    view.button("range").click()
    view.since_edit.setDate(view.until_edit.date().addDays(-34))
    view.show()

    def hover():
        bars = view.chart.bars()
        i = max(range(len(bars)), key=lambda k: bars[k].usd)
        view.chart.hovered = i
        view.chart.update()
        point = view.chart.bar_rect(i).center().toPoint()
        QToolTip.showText(view.chart.mapToGlobal(QPoint(point.x(), point.y())), view.chart.tooltip_for(i), view.chart)

    QTimer.singleShot(2500, hover)
    with loop:
        loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
