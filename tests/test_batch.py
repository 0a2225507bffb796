"""Batches over loopback: the prompt-list parser, inline and file batches against the emulator's batch mode, exactly-once
ingest (also after a SIGKILL while polling and while saving), cancel, expiry, per-request failures, an endpoint without
batch mode, and the command line's contract."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services import pricing
from services.app import Services
from services.batch import BatchService
from services.batch_api import BatchClient
from services.batch_local import run_local
from services.batch_store import generation_id_for
from services.catalog import Catalog
from services.cli import run as cli_run
from services.emulator import Fault, google_error
from services.emulator.faults import ApiFailure
from services.endpoints import custom
from services.errors import ApiError, InputError
from services.ledger import Ledger
from services.library import Library
from services.prompt_list import expand, parse

ROOT = Path(__file__).resolve().parent.parent
CATALOG = Catalog.load()
MODEL = "gemini-3.1-flash-image"


def prompts(text: str, name: str | None = None, **defaults):
    return parse(text, CATALOG, name=name, defaults=defaults)


def service_for(library, emulator, **kw) -> BatchService:
    return BatchService(CATALOG, library, min_poll=kw.pop("min_poll", 0.0), **kw)


def endpoint_of(emulator):
    return custom(emulator.url, "header")


def submit(service, text, endpoint, **defaults):
    (record, rows), *_ = service.plan(prompts(text, **defaults), endpoint)
    return asyncio.run(service.submit(record, rows))


def image_files(library: Library) -> list[Path]:
    return sorted(p for p in library.images_dir.rglob("*") if p.is_file())


# --- the prompt list ---------------------------------------------------------------------------------------------


def test_expand_makes_every_combination_in_reading_order():
    assert expand("{red|blue} fox on {snow|sand}") == [
        "red fox on snow",
        "red fox on sand",
        "blue fox on snow",
        "blue fox on sand",
    ]
    assert expand("a {single} brace") == ["a {single} brace"]


def test_text_list_skips_comments_and_blank_lines_and_counts_requests_images_and_batch_price():
    listed = prompts("# a comment\n\na {red|blue|green} fox\nlighthouse\n", model=MODEL, count=2, size="1K")
    assert [r.request.prompt for r in listed.rows] == ["a red fox", "a blue fox", "a green fox", "lighthouse"]
    assert [r.line for r in listed.rows] == [3, 3, 3, 4]
    assert (listed.requests, listed.images_expected) == (8, 8)
    price = pricing.price_for(MODEL).price_per_image("1K")  # the list price; the estimate prices its image tokens
    assert listed.estimated_cost() == pytest.approx(8 * price / 2, rel=0.01)
    assert listed.estimated_cost(batch=False) == pytest.approx(8 * price, rel=0.01)
    assert prompts("owl\n", model="gemini-nano-banana-2.1").estimated_cost() is None  # unknown price: never guessed


def test_csv_and_jsonl_rows_take_their_own_settings():
    csv_list = prompts('prompt,count,aspect_ratio\n"a cat, sleeping",3,16:9\ndog,,\n', name="x.csv")
    assert [(r.request.prompt, r.request.count, r.request.aspect_ratio) for r in csv_list.rows] == [
        ("a cat, sleeping", 3, "16:9"),
        ("dog", 1, None),
    ]
    jsonl = prompts('{"prompt": "owl", "size": "2K"}\n\n{"prompt": "{a|b} moth", "model": "gemini-3-pro-image"}\n',
                    model=MODEL)  # fmt: skip
    assert [(r.line, r.request.prompt, r.request.model, r.request.size) for r in jsonl.rows] == [
        (1, "owl", MODEL, "2K"),
        (3, "a moth", "gemini-3-pro-image", None),
        (3, "b moth", "gemini-3-pro-image", None),
    ]


def test_bad_rows_are_named_by_line_and_refuse_the_whole_list():
    listed = prompts('prompt,count\nfine,1\nbad,9\n"",1\nratio,x\n', name="x.csv")
    assert [e.split(":")[0] for e in listed.errors] == ["line 3", "line 4", "line 5"]
    with pytest.raises(InputError, match="line 3.*1 to 4 images"):
        listed.raise_for_errors()
    jsonl = prompts('{"prompt": "ok"}\n[1, 2]\n{"prompt": "x", "aspect_ratio": "7:3"}\n', name="x.jsonl")
    assert [e.split(":")[0] for e in jsonl.errors] == ["line 2", "line 3"]
    assert prompts("prompt\n", name="x.csv").errors == ["line 1: the list has no prompts"]


# --- batches against the emulator ---------------------------------------------------------------------------------


def test_inline_batch_end_to_end_saves_generations_linked_to_the_batch_at_half_price_counted_once(
    emulator, library, tmp_path
):
    emulator.batch_turnaround = None
    ledger = Ledger(tmp_path / "spending.sqlite3")
    service = service_for(library, emulator, ledger=ledger)
    record = submit(service, "a {red|blue} fox\nlighthouse\n", endpoint_of(emulator), model=MODEL)
    creates = [r for r in emulator.requests if r.path.endswith(":batchGenerateContent")]
    assert len(creates) == 1 and len(creates[0].body["batch"]["inputConfig"]["requests"]["requests"]) == 3
    saved = service.store.load(record.batch_id)
    assert saved.remote_name == record.remote_name and saved.remote_name.startswith("batches/")
    assert (saved.state, saved.pending) == ("pending", 3)

    early = asyncio.run(service.fetch(record))
    assert not early.record.finished and early.images == []
    emulator.complete()
    result = asyncio.run(service.fetch(service.load(record.batch_id)))
    assert result.record.state == "succeeded" and len(result.images) == 3 and result.failed == 0
    entries = library.history()
    assert {e.params["batch_id"] for e in entries} == {record.batch_id}
    full_price = 1120 * pricing.price_for(MODEL).output_image / 1e6  # the emulator's 1K image: 1120 image tokens
    assert [e.cost_usd for e in entries] == [pytest.approx(full_price / 2)] * 3
    assert {e.generation_id for e in entries} == {generation_id_for(record.batch_id, f"r{i:06d}") for i in (1, 2, 3)}
    again = asyncio.run(service.fetch(service.load(record.batch_id)))
    assert len(again.images) == 3
    summary = ledger.summary(None, None, by="endpoint")
    assert (summary.attempts, summary.images) == (3, 3)  # fetched twice, counted once
    assert (summary.total_usd, summary.estimated_usd) == (pytest.approx(3 * full_price / 2), 0)  # from usage
    assert ledger.spent(None, None, emulator.url) == pytest.approx(3 * full_price / 2)


def test_file_batch_uploads_streams_results_records_failures_and_saves_nothing_twice(emulator, library):
    service = service_for(library, emulator, inline_limit=2)
    record = submit(service, "owl\nmoth #fail\nwren #blocked\nheron\n", endpoint_of(emulator))
    commands = [r.headers.get("x-goog-upload-command") for r in emulator.requests if "/upload/" in r.path]
    assert commands == ["start", "upload, finalize"]
    create = next(r for r in emulator.requests if r.path.endswith(":batchGenerateContent"))
    assert create.body["batch"]["inputConfig"]["fileName"] == record.input_file

    emulator.files.refuse_deletes = 2  # cleaning up the server's files fails: the fetch must not
    first = asyncio.run(service.fetch(record))
    assert any(r.path.endswith(":download") for r in emulator.requests)
    assert len(first.images) == 2 and first.failed == 2
    by_prompt = {e.prompt: e for e in library.history()}
    assert by_prompt["moth #fail"].status == "error" and "#fail" in by_prompt["moth #fail"].reason
    assert by_prompt["moth #fail"].error["status"] == "INVALID_ARGUMENT"
    assert by_prompt["wren #blocked"].status == "blocked" and "PROHIBITED_CONTENT" in by_prompt["wren #blocked"].reason
    assert not service.load(record.batch_id).files_deleted
    files = image_files(library)

    record = service.load(record.batch_id)
    record.ingested = False  # as if the first fetch had died before noting that it finished
    service.store.save(record)
    second = asyncio.run(service.fetch(record))
    assert [i.sha256 for i, _ in second.images] == [i.sha256 for i, _ in first.images]
    assert image_files(library) == files and len(library.history()) == 4
    assert service.load(record.batch_id).files_deleted  # the files the first fetch could not delete are gone now
    for name in (record.input_file, record.responses_file):
        with pytest.raises(ApiFailure):
            emulator.files.get(name)


def test_a_fetched_file_batch_deletes_its_input_and_results_files_on_the_server_once(emulator, library):
    service = service_for(library, emulator, inline_limit=0)
    record = submit(service, "owl\nwren\n", endpoint_of(emulator))
    asyncio.run(service.refresh(record, force=True))
    record = service.load(record.batch_id)
    assert emulator.files.get(record.input_file).source == "UPLOADED"
    assert emulator.files.get(record.responses_file).source == "GENERATED"
    result = asyncio.run(service.fetch(record))
    assert len(result.images) == 2 and result.record.files_deleted
    deletes = [r.path for r in emulator.requests if r.method == "DELETE"]
    assert deletes == [f"/v1beta/{record.input_file}", f"/v1beta/{record.responses_file}"]
    for name in deletes:
        with pytest.raises(ApiFailure):
            emulator.files.get(name.removeprefix("/v1beta/"))
    again = asyncio.run(service.fetch(service.load(record.batch_id)))
    assert len(again.images) == 2 and [r.path for r in emulator.requests if r.method == "DELETE"] == deletes


def test_cancel_ends_a_pending_batch_without_images(emulator, library):
    emulator.batch_turnaround = None
    service = service_for(library, emulator)
    record = submit(service, "owl\n", endpoint_of(emulator))
    cancelled = asyncio.run(service.cancel(record))
    assert cancelled.state == "cancelled"
    assert any(r.path.endswith(":cancel") for r in emulator.requests)
    result = asyncio.run(service.fetch(cancelled))
    assert result.record.state == "cancelled" and result.images == [] and library.history() == []


def test_an_expired_batch_is_reported_with_its_reason(emulator, library):
    emulator.batch_turnaround = None
    service = service_for(library, emulator)
    record = submit(service, "owl\nmoth\n", endpoint_of(emulator))
    emulator.expire()
    result = asyncio.run(service.fetch(record, wait=True, poll=0.01))
    assert result.record.state == "expired" and "expired" in result.record.error and result.images == []


def test_a_batch_with_a_turnaround_runs_then_finishes_while_being_polled(emulator, library):
    emulator.batch_turnaround = 0.3
    service = service_for(library, emulator)
    record = submit(service, "owl\nmoth\n", endpoint_of(emulator))
    states = []
    result = asyncio.run(service.fetch(record, wait=True, poll=0.05, on_progress=lambda r: states.append(r.state)))
    assert "running" in states and states[-1] == "succeeded" and len(result.images) == 2


def test_a_running_batch_reports_its_counts_moving_so_the_progress_bar_moves(emulator, library):
    emulator.batch_turnaround = 1000.0  # pending for 500 s, then running for 500 s
    service = service_for(library, emulator)
    record = submit(service, "owl\nmoth #fail\nwren\nheron\nkite\nfinch\nrook\nlark\n", endpoint_of(emulator))
    (job,) = emulator.batches._jobs.values()
    job.created -= 750.0  # as if 750 s had passed: half-way through running
    record, _ = asyncio.run(service.refresh(record, force=True))
    assert (record.state, record.succeeded, record.failed, record.pending) == ("running", 3, 1, 4)
    job.created -= 200.0  # 950 s: nearly done
    record, _ = asyncio.run(service.refresh(record, force=True))
    assert (record.state, record.succeeded, record.failed, record.pending) == ("running", 6, 1, 1)


def test_polling_is_throttled_to_the_minimum_interval(emulator, library):
    emulator.batch_turnaround = None
    service = service_for(library, emulator, min_poll=30.0)
    record = submit(service, "owl\n", endpoint_of(emulator))
    record, _ = asyncio.run(service.refresh(record, force=True))
    assert record.poll_interval == 45.0  # nothing changed since the submit: the next look backs off
    gets = sum(1 for r in emulator.requests if r.method == "GET" and "/batches/" in r.path)
    for _ in range(3):
        asyncio.run(service.refresh(service.load(record.batch_id)))
    assert sum(1 for r in emulator.requests if r.method == "GET" and "/batches/" in r.path) == gets == 1


def test_a_batch_created_just_before_a_crash_is_found_again_by_its_name(emulator, library):
    service = service_for(library, emulator)
    (record, rows), *_ = service.plan(prompts("owl\n"), endpoint_of(emulator))
    record.pid = 2**22 + 12345  # a process that is gone
    service.store.save_requests(record.batch_id, rows)
    service.store.save(record)  # the record as written before the create call; its answer was never saved

    async def create_behind_its_back():
        async with BatchClient(endpoint_of(emulator), None) as client:
            request = service._wire_request(rows[0])
            return await client.create(
                MODEL, record.batch_id, requests=[{"request": request, "metadata": {"key": rows[0]["key"]}}]
            )

    op = asyncio.run(create_behind_its_back())
    result = asyncio.run(service.fetch(service.load(record.batch_id)))
    assert result.record.remote_name == op["name"] and len(result.images) == 1


def test_an_endpoint_without_batch_mode_says_so_and_the_local_queue_runs_the_list(emulator, library):
    emulator.script(
        Fault(404, google_error(404, "NOT_FOUND", "The requested URL was not found."), match="batchGenerateContent")
    )
    service = service_for(library, emulator)
    with pytest.raises(ApiError, match="no batch mode.*--local") as caught:
        submit(service, "owl\nmoth\n", endpoint_of(emulator))
    assert caught.value.kind == "unsupported" and service.records() == []
    result = asyncio.run(run_local(service, prompts("owl\nmoth\n"), endpoint=endpoint_of(emulator), key="k-1"))
    assert result.record.local and result.record.state == "succeeded" and len(result.images) == 2
    assert {e.params["batch_id"] for e in library.history()} == {result.record.batch_id}


def test_a_local_run_whose_process_died_is_reported_as_stopped(library):
    from services.batch_store import BatchRecord

    service = BatchService(CATALOG, library)
    record = BatchRecord("b-local-dead", MODEL, {"name": "demo", "base_url": "http://127.0.0.1:9", "auth": []},
                         time.time(), state="running", requests=5, succeeded=2, local=True, pid=2**22 + 12345)  # fmt: skip
    service.store.save(record)
    record, _ = asyncio.run(service.refresh(service.load("b-local-dead")))
    assert record.state == "failed" and "2 of 5" in record.error
    assert service.load("b-local-dead").state == "failed"


def test_imagen_models_are_refused_before_anything_is_sent(emulator, library):
    service = service_for(library, emulator)
    with pytest.raises(InputError, match="Imagen.*no batch mode"):
        service.plan(prompts("owl\n", model="imagen-4.0-generate-001"), endpoint_of(emulator))
    assert emulator.requests == []


def test_batch_records_and_links_survive_an_index_rebuild(emulator, library):
    service = service_for(library, emulator)
    record = submit(service, "owl\n", endpoint_of(emulator))
    asyncio.run(service.fetch(record))
    library.rebuild()
    assert [e.params.get("batch_id") for e in library.history()] == [record.batch_id]
    assert [r.batch_id for r in service.records()] == [record.batch_id]


# --- the command line -----------------------------------------------------------------------------------------------


SUBMIT_KEYS = {"batch_id", "remote_name", "state", "requests", "images_expected", "estimated_cost_usd", "error"}
FETCH_KEYS = {"batch_id", "state", "saved", "failed", "images", "error"}


def cli(capsys, *argv, stdin: str | None = None, monkeypatch=None) -> tuple[int, object]:
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = cli_run(list(argv), Services.create())
    out = capsys.readouterr().out
    try:
        return code, json.loads(out)
    except ValueError:
        return code, out


def test_cli_contract_submit_status_fetch_cancel_and_history(emulator, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    emulator.batch_turnaround = None
    lib = str(tmp_path / "lib")
    base = ["--library", lib, "--json"]
    code, bad = cli(capsys, "batch", "submit", "-", "--endpoint", emulator.url, *base, stdin="ok\nbad\x00\n",
                    monkeypatch=monkeypatch)  # fmt: skip
    assert code == 2 and emulator.requests == []
    assert (bad["batch_id"], bad["requests"], bad["error"]["kind"]) == (None, 0, "input")
    assert "line 2" in bad["error"]["message"]
    code, sub = cli(capsys, "batch", "submit", "-", "--endpoint", emulator.url, *base, stdin="owl\n{a|b} moth\n",
                    monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0
    assert set(sub) == SUBMIT_KEYS and sub["error"] is None
    assert (sub["requests"], sub["images_expected"], sub["state"]) == (3, 3, "pending")
    code, pending = cli(capsys, "batch", "fetch", sub["batch_id"], "--poll", "0", *base)
    assert code == 75 and pending["saved"] == 0
    emulator.complete()
    code, listed = cli(capsys, "batch", "status", *base)
    assert code == 0 and [b["batch_id"] for b in listed] == [sub["batch_id"]]
    assert set(listed[0]) == {"batch_id", "remote_name", "state", "requests", "succeeded", "failed", "pending",
                              "saved", "created_at", "estimated_cost_usd"}  # fmt: skip
    code, fetched = cli(capsys, "batch", "fetch", sub["batch_id"], "--wait", "--poll", "0", *base)
    assert code == 0 and fetched["saved"] == 3 and fetched["state"] == "succeeded"
    assert set(fetched["images"][0]) == {"path", "width", "height", "mime_type", "sha256", "prompt", "generation_id"}
    code, again = cli(capsys, "batch", "fetch", sub["batch_id"], *base)
    assert code == 0 and again["images"] == fetched["images"]
    code, history = cli(capsys, "history", "--library", lib, "--json")
    assert sorted(h["batch_id"] for h in history) == [sub["batch_id"]] * 3
    code, cancelled = cli(capsys, "batch", "cancel", sub["batch_id"], *base)
    assert code == 0 and cancelled["state"] == "succeeded"  # a finished batch stays as it ended
    code, _ = cli(capsys, "batch", "fetch", "no-such-batch", *base)
    assert code == 2
    code, _ = cli(capsys, "batch", "status", "--bogus", *base)
    assert code == 2


def test_cli_submit_that_would_cross_a_budget_exits_7_and_sends_nothing(emulator, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    services = Services.create()
    services.ledger().set_budget(None, daily=0.05)  # for all endpoints
    services.shutdown()
    base = ["--library", str(tmp_path / "lib"), "--json", "--model", MODEL, "--size", "1K"]
    code, refused = cli(capsys, "batch", "submit", "-", "--endpoint", emulator.url, *base, stdin="owl\nwren\nfinch\n",
                        monkeypatch=monkeypatch)  # fmt: skip  # about 3 x $0.034 at the batch price
    assert code == 7 and emulator.requests == []
    assert set(refused) == SUBMIT_KEYS  # the submit object, not generate's
    assert (refused["batch_id"], refused["remote_name"], refused["state"]) == (None, None, None)
    assert (refused["requests"], refused["images_expected"]) == (3, 3)
    assert refused["estimated_cost_usd"] == pytest.approx(3 * pricing.price_for(MODEL).output_image * 1120 / 2e6)
    assert refused["error"]["kind"] == "budget" and refused["error"]["status"] == "BUDGET"
    assert "would cross the daily cap" in refused["error"]["message"]
    code, listed = cli(capsys, "batch", "status", "--library", str(tmp_path / "lib"), "--json")
    assert code == 0 and listed == []  # no record of a batch that was never sent
    two_models = "prompt,model,size\nowl,gemini-3.1-flash-image,1K\nwren,gemini-2.5-flash-image,\n"
    code, both = cli(capsys, "batch", "submit", "-", "--endpoint", emulator.url, *base[:3], stdin=two_models,
                     monkeypatch=monkeypatch)  # fmt: skip  # each under the cap alone, over it together
    assert code == 7 and emulator.requests == [] and [b["requests"] for b in both] == [1, 1]
    assert {b["error"]["kind"] for b in both} == {"budget"} and {b["batch_id"] for b in both} == {None}
    code, local = cli(capsys, "batch", "submit", "-", "--local", "--endpoint", emulator.url, *base,
                      stdin="owl\nwren\n", monkeypatch=monkeypatch)  # fmt: skip  # about 2 x $0.067, standard price
    assert code == 7 and emulator.requests == []
    assert set(local) == FETCH_KEYS and local["saved"] == 0 and local["error"]["kind"] == "budget"
    code, sent = cli(capsys, "batch", "submit", "-", "--endpoint", emulator.url, *base, stdin="owl\n",
                     monkeypatch=monkeypatch)  # fmt: skip  # about $0.034: under the cap
    assert code == 0 and sent["requests"] == 1


def test_cli_exit_codes_for_cancelled_and_empty_batches_and_the_demo_across_processes(tmp_path, capsys):
    lib = str(tmp_path / "lib")
    base = ["--library", lib, "--json"]
    list_file = tmp_path / "list.txt"
    list_file.write_text("owl\n", encoding="utf-8")
    code, sub = cli(capsys, "batch", "submit", str(list_file), "--endpoint", "demo", *base)
    assert code == 0 and sub["state"] == "succeeded"  # the demo answers a batch as it is created
    code, fetched = cli(capsys, "batch", "fetch", sub["batch_id"], *base)  # a new process: a new demo server
    assert code == 0 and fetched["saved"] == 1
    list_file.write_text("owl #blocked\n", encoding="utf-8")
    code, sub = cli(capsys, "batch", "submit", str(list_file), "--endpoint", "demo", *base)
    code, fetched = cli(capsys, "batch", "fetch", sub["batch_id"], *base)
    assert code == 3 and fetched["saved"] == 0 and fetched["failed"] == 1
    code, local = cli(capsys, "batch", "submit", str(list_file), "--local", "--endpoint", "demo", *base)
    assert code == 3 and local["failed"] == 1


def test_cli_network_failure_at_submit_exits_5_and_keeps_no_record(tmp_path, capsys, monkeypatch):
    import socket

    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    lib = str(tmp_path / "lib")
    code, failed = cli(capsys, "batch", "submit", "-", "--endpoint", closed, "--library", lib, "--json",
                       stdin="owl\n", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 5 and set(failed) == SUBMIT_KEYS and failed["requests"] == 1
    assert failed["batch_id"] is None and failed["error"]["kind"] == "network"  # nothing reached a server
    code, listed = cli(capsys, "batch", "status", "--library", lib, "--json")
    assert code == 0 and listed == []


def test_cli_submit_to_an_endpoint_without_batch_mode_exits_4_with_the_submit_object(
    emulator, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    emulator.script(Fault(404, google_error(404, "NOT_FOUND", "Not here."), match="batchGenerateContent"))
    code, refused = cli(capsys, "batch", "submit", "-", "--endpoint", emulator.url, "--library", str(tmp_path / "l"),
                        "--json", stdin="owl\nwren\n", monkeypatch=monkeypatch)  # fmt: skip
    assert code == 4 and set(refused) == SUBMIT_KEYS and refused["batch_id"] is None
    assert refused["error"]["kind"] == "unsupported" and refused["error"]["http_status"] == 404
    assert "--local" in refused["error"]["message"]


# --- killed and restarted -------------------------------------------------------------------------------------------


def main_py(*argv, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GEMINI_API_KEY": "test-key"}
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # fmt: skip


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def finish_after_kill(lib: str, batch_id: str, expected: int) -> dict:
    restart = main_py("batch", "fetch", batch_id, "--wait", "--poll", "0.05", "--library", lib, "--json")
    out, err = restart.communicate(timeout=120)
    assert restart.returncode == 0, err.decode()
    result = json.loads(out)
    library = Library(Path(lib)).open()
    try:
        images = image_files(library)
        entries = library.history(limit=None)
    finally:
        library.close()
    assert result["saved"] == expected == len(images) == len({i["generation_id"] for i in result["images"]})
    assert len(entries) == expected and {e.status for e in entries} == {"ok"}
    assert not [p for p in images if p.name.endswith(".tmp")]
    return result


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_kill_while_polling_then_a_restart_finishes_without_loss(emulator, tmp_path):
    emulator.batch_turnaround = None
    lib = str(tmp_path / "lib")
    submitted = main_py("batch", "submit", "-", "--endpoint", emulator.url, "--library", lib, "--json",
                        stdin=subprocess.PIPE)  # fmt: skip
    out, err = submitted.communicate(b"owl\nmoth\nwren\n", timeout=60)
    assert submitted.returncode == 0, err.decode()
    batch_id = json.loads(out)["batch_id"]
    polling = main_py("batch", "fetch", batch_id, "--wait", "--poll", "0.05", "--library", lib, "--json")
    wait_for(lambda: sum(r.path.endswith(json.loads(out)["remote_name"].split("/")[1]) for r in emulator.requests) >= 3)
    polling.send_signal(signal.SIGKILL)
    polling.wait(10)
    emulator.complete()
    finish_after_kill(lib, batch_id, 3)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_kill_while_saving_results_then_a_restart_saves_the_rest_exactly_once(emulator, tmp_path):
    emulator.batch_turnaround = 0
    lib = str(tmp_path / "lib")
    rows = "".join(f"heron number {i}\n" for i in range(16))
    submitted = main_py("batch", "submit", "-", "--size", "2K", "--endpoint", emulator.url, "--library", lib,
                        "--json", stdin=subprocess.PIPE)  # fmt: skip
    out, err = submitted.communicate(rows.encode(), timeout=120)
    assert submitted.returncode == 0, err.decode()
    batch_id = json.loads(out)["batch_id"]
    images = Path(lib) / "images"
    saving = main_py("batch", "fetch", batch_id, "--library", lib, "--json")
    wait_for(lambda: images.is_dir() and sum(1 for p in images.rglob("*.png")) >= 3, timeout=120)
    saving.send_signal(signal.SIGKILL)
    saving.wait(10)
    assert sum(1 for p in images.rglob("*.png")) < 16  # killed part-way through
    finish_after_kill(lib, batch_id, 16)
