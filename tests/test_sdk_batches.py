"""Batch mode and the Files API of the emulator, driven by Google's SDK (`client.batches`, `client.files`)."""

import base64
import io
import json
import time

import httpx
import pytest
from google.genai import errors

from services.emulator import Emulator
from tests.test_sdk import FLASH, close_clients, png_size, sdk  # noqa: F401 - close_clients is an autouse fixture

DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def request(text, **config):
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if config:
        body["generationConfig"] = config
    return body


def wait_done(client, name, timeout=30):
    """The states seen while polling, until the job is done (bounded)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.batches.get(name=name)
        if not seen or seen[-1] != job.state.value:
            seen.append(job.state.value)
        if job.state.value in DONE:
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"batch {name} not done after {timeout} s: {seen}")


@pytest.fixture
def server():
    with Emulator(batch_turnaround=0.6) as emulator:
        yield emulator


def test_inline_batch_answers_each_request_and_reports_failures_per_request(server):
    client = sdk(server)
    src = [
        {"contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}], "metadata": {"key": "good"}},
        {"contents": [{"role": "user", "parts": [{"text": "a fox"}]}], "config": {"image_config": {"aspect_ratio": "7:5"}}},
    ]  # fmt: skip
    job = client.batches.create(model=FLASH, src=src, config={"display_name": "two pictures"})
    assert job.name.startswith("batches/") and job.state.value == "JOB_STATE_PENDING"
    job, seen = wait_done(client, job.name)
    assert seen[-1] == "JOB_STATE_SUCCEEDED" and seen == [s for s in ["JOB_STATE_PENDING", "JOB_STATE_RUNNING",
                                                                       "JOB_STATE_SUCCEEDED"] if s in seen]  # fmt: skip
    assert job.display_name == "two pictures" and job.model == f"models/{FLASH}"
    good, bad = job.dest.inlined_responses
    image = good.response.candidates[0].content.parts[-1]
    assert png_size(image.inline_data.data) == (1024, 1024) and image.thought_signature
    assert good.response.usage_metadata.candidates_tokens_details
    assert good.response is not None and bad.response is None and bad.error.code == 400 and "7:5" in bad.error.message
    raw = httpx.get(f"{server.url}/v1beta/{job.name}", timeout=30).json()
    assert raw["metadata"]["state"] == "BATCH_STATE_SUCCEEDED" and raw["done"] is True
    assert raw["metadata"]["batchStats"] == {
        "requestCount": "2",
        "successfulRequestCount": "1",
        "failedRequestCount": "1",
        "pendingRequestCount": "0",
    }
    assert raw["metadata"]["output"]["inlinedResponses"]["inlinedResponses"][0]["metadata"] == {"key": "good"}


def test_file_batch_reads_jsonl_and_writes_a_results_file(server):
    client = sdk(server)
    lines = [
        {"key": "boat", "request": request("a boat at dusk", responseModalities=["TEXT", "IMAGE"])},
        {"key": "wide", "request": request("a castle", imageConfig={"aspectRatio": "16:9", "imageSize": "2K"})},
        {"key": "refused", "request": request("a cat", candidateCount=2)},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    uploaded = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": "application/jsonl", "display_name": "requests"}
    )
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == len(data)
    assert client.files.get(name=uploaded.name).display_name == "requests"
    assert uploaded.name in {f.name for f in client.files.list()}
    job, _ = wait_done(client, client.batches.create(model=FLASH, src=uploaded.name).name)
    assert job.state.value == "JOB_STATE_SUCCEEDED" and job.dest.file_name.startswith("files/")
    results = client.files.download(file=job.dest.file_name)
    rows = [json.loads(line) for line in results.decode().splitlines()]
    assert [r["key"] for r in rows] == ["boat", "wide", "refused"]
    assert "response" in rows[0] and "error" in rows[2] and rows[2]["error"]["code"] == 400
    wide = rows[1]["response"]["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"]
    assert png_size(base64.b64decode(wide)) == (2752, 1536)
    direct = httpx.get(f"{server.url}/download/v1beta/{job.dest.file_name}:download", params={"alt": "media"})
    assert direct.status_code == 200 and direct.content == results
    refused = httpx.get(f"{server.url}/download/v1beta/{uploaded.name}:download", params={"alt": "media"})
    assert refused.status_code == 400  # only generated files can be downloaded


def test_cancel_list_and_delete(server):
    client = sdk(server)
    server.batch_turnaround = 3600
    job = client.batches.create(model=FLASH, src=[{"contents": [{"parts": [{"text": "x"}], "role": "user"}]}])
    assert client.batches.get(name=job.name).state.value == "JOB_STATE_PENDING"
    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state.value == "JOB_STATE_CANCELLED"
    assert job.name in [j.name for j in client.batches.list()]
    client.batches.delete(name=job.name)
    assert job.name not in [j.name for j in client.batches.list()]
    with pytest.raises(errors.ClientError) as missing:
        client.batches.get(name=job.name)
    assert missing.value.code == 404


def test_a_file_with_no_readable_request_fails_the_batch(server):
    client = sdk(server)
    uploaded = client.files.upload(file=io.BytesIO(b"not json\n{}\n"), config={"mime_type": "application/jsonl"})
    job, _ = wait_done(client, client.batches.create(model=FLASH, src=uploaded.name).name)
    assert job.state.value == "JOB_STATE_FAILED"


def test_batch_of_an_imagen_model_is_not_found(server):
    with pytest.raises(errors.ClientError) as missing:
        sdk(server).batches.create(model="imagen-4.0-generate-001", src=[{"contents": "x"}])
    assert missing.value.code == 404
