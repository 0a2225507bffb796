"""Refine threads over loopback against the emulator: what each request carries, branches, restarts, rebuilds, the CLI."""

import base64
import copy
import hashlib
import json
from pathlib import Path

import pytest

from services import conversation, metadata
from services.emulator import Emulator, Fault, google_error
from services.errors import InputError, LibraryError
from services.library import Library
from tests.conftest import run
from tests.helpers import b64, demo_endpoint, image_part, png, service_for
from tests.test_cli import atelier

MODEL = "gemini-3.1-flash-image"


def model_content(n: int) -> dict:
    """A model turn as Google sends it: a thought text, a thought image, a signed text, and the signed final image."""
    return {
        "role": "model",
        "parts": [
            {"text": f"Planning turn {n}.", "thought": True},
            {**image_part(png(f"draft {n}", 32, 32)), "thought": True},
            {"text": f"Here is turn {n}.", "thoughtSignature": f"sig-text-{n}-" + "A" * 40},
            {**image_part(png(f"final {n}", 80, 60)), "thoughtSignature": f"sig-image-{n}-" + "B" * 40},
        ],
    }


def scripted(n: int) -> Fault:
    return Fault(body={"candidates": [{"content": model_content(n), "finishReason": "STOP", "index": 0}]})


async def generate(library, server, prompt, **kw):
    from services.types import GenerationRequest

    request = GenerationRequest(prompt=prompt, model=kw.pop("model", MODEL), **kw)
    return await service_for(library).generate(request, endpoint=demo_endpoint(server), key=None)


async def refine(library, server, generation_id, prompt, **kw):
    endpoint = demo_endpoint(server)
    prepared = conversation.prepare(library, generation_id, prompt, endpoint_label=endpoint.label, **kw)
    result = await service_for(library).generate(prepared.request, endpoint=endpoint, key=None)
    return prepared, result


def sent_contents(server, n: int) -> list[dict]:
    calls = [r for r in server.requests if r.path.endswith(("generateContent", "GenerateContent"))]
    return calls[n].body["contents"]


def test_three_turn_thread_sends_every_earlier_turn_byte_for_byte(library, emulator):
    emulator.script(scripted(1), scripted(2), scripted(3))
    first = run(generate(library, emulator, "a lighthouse at dusk"))
    _, second = run(refine(library, emulator, first.generation_id, "make the sky stormier"))
    _, third = run(refine(library, emulator, second.generation_id, "add a gull"))
    assert third.status == "ok"
    contents = sent_contents(emulator, 2)
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert contents[0]["parts"] == [{"text": "a lighthouse at dusk"}]
    assert contents[1] == model_content(1)  # every part, thought parts, signatures and base64 unchanged
    assert contents[2]["parts"] == [{"text": "make the sky stormier"}]
    assert contents[3] == model_content(2)
    assert contents[4]["parts"] == [{"text": "add a gull"}]
    # The saved file carries metadata, yet the image going back is the server's original bytes.
    saved = Path(second.images[0].path).read_bytes()
    original = base64.b64decode(model_content(2)["parts"][3]["inlineData"]["data"])
    assert saved != original and base64.b64decode(contents[3]["parts"][3]["inlineData"]["data"]) == original
    thread = library.thread(third.generation_id)
    assert [e.generation_id for e in thread] == [first.generation_id, second.generation_id, third.generation_id]
    assert thread[2].as_json()["thread_id"] == first.generation_id


def test_refining_the_same_image_twice_makes_two_branches(library, emulator):
    emulator.script(scripted(1), scripted(2), scripted(3))
    root = run(generate(library, emulator, "a red fox"))
    _, left = run(refine(library, emulator, root.generation_id, "in snow"))
    _, right = run(refine(library, emulator, root.generation_id, "in autumn leaves"))
    assert left.generation_id != right.generation_id
    for branch in (left, right):
        turns = library.thread(branch.generation_id)
        assert [t.generation_id for t in turns] == [root.generation_id, branch.generation_id]
        assert turns[1].as_json()["parent_generation_id"] == root.generation_id
    assert sent_contents(emulator, 2)[-1]["parts"] == [{"text": "in autumn leaves"}]
    assert sent_contents(emulator, 2)[:2] == sent_contents(emulator, 1)[:2]  # both continue the root's conversation


def test_each_image_of_a_multi_image_job_has_its_own_conversation(library, emulator):
    emulator.script(scripted(1), scripted(2))
    job = run(generate(library, emulator, "two cats", count=2))
    assert len(job.images) == 2
    emulator.requests.clear()
    emulator.script(scripted(3))
    by_index = {image.index: image for image in job.images}
    _, result = run(refine(library, emulator, job.generation_id, "make them blue", image_index=1))
    assert result.status == "ok"
    sent_image = base64.b64decode(sent_contents(emulator, 0)[1]["parts"][3]["inlineData"]["data"])
    record = metadata.read_embedded(Path(by_index[1].path).read_bytes())
    assert record["conversation"]["original_sha256"] == hashlib.sha256(sent_image).hexdigest()


def test_thread_continues_after_a_restart_and_after_a_rebuild(tmp_path, emulator):
    root_dir = tmp_path / "lib"
    library = Library(root_dir).open()
    emulator.script(scripted(1), scripted(2))
    first = run(generate(library, emulator, "a castle"))
    _, second = run(refine(library, emulator, first.generation_id, "at night"))
    library.close()

    reopened = Library(root_dir).open()  # a restart
    emulator.script(scripted(3))
    _, third = run(refine(reopened, emulator, second.generation_id, "with fireworks"))
    assert sent_contents(emulator, 2)[:4] == sent_contents(emulator, 1) + [model_content(2)]
    reopened.rebuild()  # the index from the files alone
    reopened.close()

    rebuilt = Library(root_dir).open()
    try:
        assert [e.generation_id for e in rebuilt.thread(third.generation_id)] == [
            first.generation_id,
            second.generation_id,
            third.generation_id,
        ]
        emulator.script(scripted(4))
        _, fourth = run(refine(rebuilt, emulator, third.generation_id, "and a moon"))
        contents = sent_contents(emulator, 3)
        assert contents[1] == model_content(1) and contents[3] == model_content(2) and contents[5] == model_content(3)
        assert rebuilt.generation(fourth.generation_id).as_json()["thread_id"] == first.generation_id
    finally:
        rebuilt.close()


def test_a_refused_signature_is_explained_in_plain_words(library, emulator):
    emulator.script(scripted(1))
    first = run(generate(library, emulator, "a boat"))
    message = "Image part is missing a thought_signature in content position 2, part position 4."
    emulator.script(Fault(status=400, body=google_error(400, "INVALID_ARGUMENT", message)))
    _, result = run(refine(library, emulator, first.generation_id, "make it red"))
    conversation.explain(result)
    assert result.status == "error" and not result.images
    assert result.reason.startswith("The server refused to continue this conversation")
    assert "signature" in result.reason and "Traceback" not in result.reason


def test_an_imagen_image_is_refined_as_a_new_conversation_with_a_note(library, emulator):
    job = run(generate(library, emulator, "a teapot", model="imagen-4.0-generate-001"))
    assert job.status == "ok"
    prepared, result = run(refine(library, emulator, job.generation_id, "make it porcelain"))
    assert result.status == "ok" and "no conversation" in prepared.note
    contents = sent_contents(emulator, 0)
    assert len(contents) == 1 and contents[0]["parts"][0] == {"text": "make it porcelain"}
    sent = base64.b64decode(contents[0]["parts"][1]["inlineData"]["data"])
    assert sent == Path(job.images[0].path).read_bytes()
    assert library.generation(result.generation_id).as_json()["parent_generation_id"] == job.generation_id


def test_estimate_grows_with_the_turns(library, emulator):
    emulator.script(scripted(1), scripted(2))
    first = run(generate(library, emulator, "a tree"))
    one = conversation.prepare(library, first.generation_id, "greener", endpoint_label=demo_endpoint(emulator).label)
    _, second = run(refine(library, emulator, first.generation_id, "greener"))
    two = conversation.prepare(library, second.generation_id, "taller", endpoint_label=demo_endpoint(emulator).label)
    model = service_for(library).model_for(two.request)
    a, b = conversation.estimate(one.request, model), conversation.estimate(two.request, model)
    assert (a["input_images"], b["input_images"]) == (2, 4)  # each model turn: its thought image and its image
    assert b["input_tokens"] - a["input_tokens"] >= 2 * conversation.INPUT_TOKENS_PER_IMAGE
    if a["cost_usd"] is not None:  # priced where the model's input rate is known
        assert b["cost_usd"] >= a["cost_usd"]


def test_unknown_short_and_ambiguous_ids_are_bad_input(library, emulator):
    emulator.script(scripted(1))
    first = run(generate(library, emulator, "a bell"))
    assert conversation.resolve_generation(library, first.generation_id[:8]) == first.generation_id
    for text in ("abc", "ffffffffffffffff"):
        with pytest.raises(InputError):
            conversation.resolve_generation(library, text)


@pytest.mark.slow
def test_cli_refine_thread_and_history_contract(tmp_path):
    lib = str(tmp_path / "lib")
    with Emulator() as server:
        server.script(scripted(1), scripted(2))
        code, out, err = atelier(
            "generate", "a kite", "--endpoint", server.url, "--library", lib, "--json", env={"GEMINI_API_KEY": "k-123"}
        )
        assert code == 0, err
        root = json.loads(out)["generation_id"]
        code, out, err = atelier(
            "refine",
            root[:8],
            "make it yellow",
            "--endpoint",
            server.url,
            "--library",
            lib,
            "--json",
            env={"GEMINI_API_KEY": "k-123"},
        )
        assert code == 0 and "Traceback" not in err, err
        body = json.loads(out)
        assert {"status", "generation_id", "images", "parent_generation_id", "thread_id"} <= set(body)
        assert body["parent_generation_id"] == root and body["thread_id"] == root
        code, out, _ = atelier("thread", body["generation_id"], "--library", lib, "--json")
        turns = json.loads(out)
        assert code == 0 and [t["generation_id"] for t in turns] == [root, body["generation_id"]]
        assert set(turns[1]) == {"generation_id", "parent_generation_id", "prompt", "model", "status", "text", "images"}
        code, out, _ = atelier("history", "--library", lib, "--json")
        history = {h["generation_id"]: h for h in json.loads(out)}
        assert history[root]["parent_generation_id"] is None and history[root]["thread_id"] == root
        assert history[body["generation_id"]]["parent_generation_id"] == root
        before = len(server.requests)
        for bad in ("abc", "0" * 12):
            code, out, err = atelier(
                "refine",
                bad,
                "x",
                "--endpoint",
                server.url,
                "--library",
                lib,
                "--json",
                env={"GEMINI_API_KEY": "k-123"},
            )
            assert code == 2 and json.loads(out)["status"] == "error" and "Traceback" not in err
        assert len(server.requests) == before  # nothing sent


def test_cli_ambiguous_prefix_is_bad_input(tmp_path):
    lib_dir = tmp_path / "lib"
    library = Library(lib_dir).open()
    from services.types import GenerationRequest

    ids = [library.begin(GenerationRequest("p", MODEL), endpoint="x", protocol="generateContent") for _ in range(2)]
    # Two ids sharing 8 characters: rename them so their first 8 characters are the same.
    for n, gid in enumerate(ids):
        library.index.write("UPDATE generations SET id=? WHERE id=?", (f"deadbeef{n:024x}", gid))
    library.close()
    code, out, err = atelier("thread", "deadbeef", "--library", str(lib_dir), "--json")
    assert code == 2 and "more than one" in err


def test_strict_emulator_accepts_a_turn_restored_after_a_restart_and_refuses_a_missing_signature(tmp_path, emulator):
    library = Library(tmp_path / "lib").open()
    first = run(generate(library, emulator, "a lantern"))
    library.close()
    library = Library(tmp_path / "lib").open()  # the turn comes back from the file and the kept bytes
    _, good = run(refine(library, emulator, first.generation_id, "make it glow green"))
    assert good.status == "ok"
    # The edit derives from the parent: the refined picture is not a fresh one (the strict emulator makes it so).
    assert good.images[0].sha256 != first.images[0].sha256
    # Drop the model turn's signatures: the real server (and the strict emulator) refuse with 400.
    endpoint = demo_endpoint(emulator)
    prepared = conversation.prepare(library, first.generation_id, "again", endpoint_label=endpoint.label)
    wire = [copy.deepcopy(t) for t in prepared.request.conversation]
    for part in wire[-1]["parts"]:
        part.pop("thoughtSignature", None)
    from dataclasses import replace

    result = run(
        service_for(library).generate(replace(prepared.request, conversation=tuple(wire)), endpoint=endpoint, key=None)
    )
    assert result.status == "error" and "signature" in (result.reason or "")
    assert str(conversation.explain(result).reason).count("refused to continue") == 1
    library.close()


def test_stored_turns_round_trip_exactly_in_either_spelling(library):
    """Proxies answer in snake_case: the turn goes back in the spelling and order it came in."""
    turn = {
        "role": "model",
        "parts": [
            {"inline_data": {"mime_type": "image/png", "data": b64(png("snake", 40, 30))}, "thought_signature": "s1"},
            {"text": "done", "thoughtSignature": "s2"},
        ],
    }
    stored = conversation.to_stored([turn], library)
    assert "data" not in stored[0]["parts"][0]["inline_data"] and len(json.dumps(stored)) < 400
    wire = conversation.to_wire(stored, library)
    assert wire == [turn] and json.dumps(wire) == json.dumps([turn])  # key order too
    sha = stored[0]["parts"][0]["inline_data"]["atelierSha256"]
    library.files.reference_path(sha, "image/png").write_bytes(b"changed")
    with pytest.raises(LibraryError):
        conversation.to_wire(stored, library)


def test_a_conversation_held_on_another_endpoint_starts_anew(library, emulator):
    emulator.script(scripted(1))
    first = run(generate(library, emulator, "a bridge"))
    prepared = conversation.prepare(library, first.generation_id, "in fog", endpoint_label="https://proxy.example")
    assert "another endpoint" in prepared.note and prepared.request.conversation == ()
    assert prepared.request.lineage["new_conversation"] is True
    assert prepared.request.references[0].data == Path(first.images[0].path).read_bytes()
