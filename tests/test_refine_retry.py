"""Retry of a refine, rebuilt from the library (Library.request_of), over loopback against the emulator: the same
conversation and lineage go again; a refine that started a new conversation keeps its reference; a lost parent is
said in one sentence."""

import pytest

from services.emulator import Fault, google_error
from services.errors import LibraryError
from tests.conftest import run
from tests.helpers import demo_endpoint, service_for
from tests.test_refine import generate, refine, scripted, sent_contents

REFUSED = Fault(status=400, body=google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."))


def test_request_of_a_failed_refine_carries_its_conversation_and_lineage(library, emulator):
    root = run(generate(library, emulator, "a lighthouse"))  # the emulator's own signed turns: it checks them
    _, second = run(refine(library, emulator, root.generation_id, "stormier"))
    emulator.script(REFUSED)
    prepared, failed = run(refine(library, emulator, second.generation_id, "add a gull"))
    assert failed.status == "error"
    request = library.request_of(failed.generation_id)
    assert request.conversation == prepared.request.conversation and len(request.conversation) == 4
    assert any("thoughtSignature" in p for p in request.conversation[3]["parts"])
    assert request.lineage == prepared.request.lineage
    assert request.lineage["parent_generation_id"] == second.generation_id
    result = run(service_for(library).generate(request, endpoint=demo_endpoint(emulator), key=None))
    assert result.status == "ok", result.reason
    assert sent_contents(emulator, 3) == sent_contents(emulator, 2)  # the failed attempt's body, byte for byte
    entry = library.generation(result.generation_id).as_json()
    assert (entry["parent_generation_id"], entry["thread_id"]) == (second.generation_id, root.generation_id)


def test_request_of_a_new_conversation_refine_sends_the_image_as_reference_again(library, emulator):
    job = run(generate(library, emulator, "a teapot", model="imagen-4.0-generate-001"))
    emulator.script(REFUSED)
    prepared, failed = run(refine(library, emulator, job.generation_id, "porcelain"))
    assert failed.status == "error" and prepared.note
    request = library.request_of(failed.generation_id)
    assert request.conversation == () and request.lineage["new_conversation"] is True
    assert [r.data for r in request.references] == [r.data for r in prepared.request.references]


def test_request_of_a_refine_whose_parent_is_gone_says_so(library, emulator):
    emulator.script(scripted(1), REFUSED)
    root = run(generate(library, emulator, "a kite"))
    _, failed = run(refine(library, emulator, root.generation_id, "yellow"))
    library.trash([root.images[0].image_id])
    with pytest.raises(LibraryError, match="no longer in the library"):
        library.request_of(failed.generation_id)
