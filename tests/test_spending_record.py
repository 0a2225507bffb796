"""From a generation over loopback HTTP to the ledger: what the lead's integration records, priced from usage."""

import pytest

from services.emulator import Fault, google_error
from services.ledger import Ledger
from services.spending import billed_record
from services.types import GenerationRequest
from tests.conftest import run
from tests.helpers import custom_endpoint, service_for


def generate(library, server, request):
    return run(service_for(library).generate(request, endpoint=custom_endpoint(server), key="test-key-123"))


def test_a_generation_is_recorded_at_its_usage_cost_once(library, emulator, tmp_path):
    request = GenerationRequest("a lighthouse", "gemini-3-pro-image", count=2, size="2K")
    result = generate(library, emulator, request)
    assert (
        result.status == "ok" and result.usage.image_tokens == 2 * 1120
    )  # 3 Pro Image: 1120 tokens at 2K (gemini-api.md)
    record = billed_record(result, library=library.root, endpoint="custom", size="2K")
    assert (record.usd, record.estimated, record.images) == (pytest.approx(2 * 1120 * 120 / 1e6), False, 2)
    ledger = Ledger(tmp_path / "spending.sqlite3")
    assert ledger.record(record) and not ledger.record(record)
    assert ledger.summary(None, None).total_usd == pytest.approx(0.2688)
    ledger.close()


def test_a_blocked_prompt_with_usage_is_billed_a_refusal_is_not(library, emulator):
    blocked = generate(library, emulator, GenerationRequest("#blocked thing", "gemini-3-pro-image"))
    assert blocked.status == "blocked" and blocked.usage is not None
    record = billed_record(blocked, library=library.root, endpoint="google", size=None)
    assert (
        record.status == "blocked" and record.input_tokens == blocked.usage.prompt_tokens > 0 and record.usd is None
    )  # input price unknown
    emulator.script(Fault(status=400, body=google_error(400, "INVALID_ARGUMENT", "Bad request")))
    refused = generate(library, emulator, GenerationRequest("a fox", "gemini-3-pro-image"))
    assert (
        refused.status == "error" and billed_record(refused, library=library.root, endpoint="google", size=None) is None
    )
