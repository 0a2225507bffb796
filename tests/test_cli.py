"""The command line as scripts use it: a real process, its JSON and its exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.catalog import DEFAULT_MODEL
from services.emulator import Emulator, Fault, google_error
from tests.helpers import png

ROOT = Path(__file__).resolve().parent.parent


def atelier(*args, stdin=None, env=None, timeout=120):
    environment = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=environment,
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def gen_json(*args, **kw):
    code, out, err = atelier("generate", *args, "--json", **kw)
    assert "Traceback" not in err, err
    return code, json.loads(out), err


def test_generate_demo_json_contract(tmp_path):
    lib = tmp_path / "lib"
    code, body, _ = gen_json(
        "a lighthouse", "--endpoint", "demo", "--count", "2", "--aspect-ratio", "4:3", "--library", str(lib)
    )
    assert code == 0 and body["status"] == "ok"
    assert set(body) == {
        "status",
        "generation_id",
        "model",
        "images",
        "text",
        "reason",
        "error",
        "attempts",
        "cost_usd",
    }
    assert body["model"] == DEFAULT_MODEL and body["error"] is None and body["attempts"] == 2
    for image in body["images"]:
        path = Path(image["path"])
        assert path.is_absolute() and path.is_file() and str(path).startswith(str(lib))
        assert image["mime_type"] == "image/png" and (image["width"], image["height"]) == (
            1200,
            896,
        )  # Gemini 3.x 4:3 at 1K
        assert len(image["sha256"]) == 64


def test_prompt_from_stdin_and_history_json(tmp_path):
    lib = str(tmp_path / "lib")
    code, body, _ = gen_json("-", "--endpoint", "demo", "--library", lib, stdin=b"a fox from stdin\n")
    assert code == 0
    gen_json("lighthouse", "--endpoint", "demo", "--library", lib, "--model", "imagen-4.0-fast-generate-001")
    code, out, _ = atelier("history", "--json", "--library", lib)
    history = json.loads(out)
    assert code == 0 and [h["prompt"] for h in history] == ["lighthouse", "a fox from stdin"]
    first = history[1]
    assert first["generation_id"] == body["generation_id"] and first["created_at"].endswith("+00:00")
    assert first["images"][0]["sha256"] == body["images"][0]["sha256"]
    assert set(first) >= {"generation_id", "created_at", "prompt", "model", "status", "reason", "text", "images"}
    assert first["batch_id"] is None  # set only on a batch's results (tests/test_batch.py)
    code, out, _ = atelier("history", "--json", "--search", "fox", "--library", lib)
    assert [h["prompt"] for h in json.loads(out)] == ["a fox from stdin"]
    code, out, _ = atelier("history", "--json", "--model", "imagen-4.0-fast-generate-001", "--library", lib)
    assert [h["prompt"] for h in json.loads(out)] == ["lighthouse"]
    code, out, _ = atelier("history", "--library", lib, "--limit", "1")
    assert code == 0 and "lighthouse" in out and "fox" not in out


def test_library_from_environment(tmp_path):
    lib = tmp_path / "env-lib"
    code, body, _ = gen_json("x", "--endpoint", "demo", env={"ATELIER_LIBRARY": str(lib)})
    assert code == 0 and body["images"][0]["path"].startswith(str(lib))


@pytest.mark.parametrize(
    "args,words",
    [
        (["   "], "empty"),
        (["x", "--count", "9"], "1 to 4"),
        (["x", "--count", "two"], "invalid int"),
        (["x", "--aspect-ratio", "7:5"], "aspect ratio"),
        (["x", "--size", "8K"], "does not make 8K"),
        (["x", "--image", "/nonexistent/ref.png"], "does not exist"),
        (["x", "--model", "imagen-4.0-generate-001", "--image", "REF"], "does not take reference"),
        (["x", "--endpoint", "ftp://example.com"], "http"),
    ],
)
def test_bad_input_exits_2_with_json(tmp_path, args, words):
    ref = tmp_path / "ref.png"
    ref.write_bytes(png())
    args = [str(ref) if a == "REF" else a for a in args]
    if "--endpoint" not in args:
        args += ["--endpoint", "demo"]
    code, body, err = gen_json(*args, "--library", str(tmp_path / "lib"))
    assert code == 2 and body["status"] == "error" and words in body["error"]["message"], body
    assert not (tmp_path / "lib" / "images").exists() or not list((tmp_path / "lib" / "images").rglob("*.png"))


def test_no_key_exits_2_and_says_how(tmp_path):
    code, body, _ = gen_json("x", "--endpoint", "google", "--library", str(tmp_path / "lib"))
    assert code == 2 and "GEMINI_API_KEY" in body["error"]["message"]


def test_non_utf8_stdin_exits_2(tmp_path):
    code, body, _ = gen_json("-", "--endpoint", "demo", "--library", str(tmp_path / "lib"), stdin=b"caf\xe9\n")
    assert code == 2 and "UTF-8" in body["error"]["message"]


def test_blocked_and_no_image_exit_3(tmp_path):
    lib = str(tmp_path / "lib")
    code, body, _ = gen_json("a cat #blocked", "--endpoint", "demo", "--library", lib)
    assert code == 3 and body["status"] == "blocked" and "PROHIBITED_CONTENT" in body["reason"]
    code, body, _ = gen_json("a cat #noimage", "--endpoint", "demo", "--library", lib)
    assert code == 3 and body["status"] == "no_image" and body["text"]


def test_server_refusal_exits_4_and_network_failure_exits_5(tmp_path):
    lib = str(tmp_path / "lib")
    with Emulator(require_key="right-key-123") as server:
        code, body, _ = gen_json(
            "x", "--endpoint", server.url, "--auth", "header", "--library", lib, env={"GEMINI_API_KEY": "wrong-key-456"}
        )
        assert code == 4 and body["status"] == "error" and body["error"]["http_status"] == 400
        assert "not valid" in body["error"]["message"] and "wrong-key-456" not in json.dumps(body)
        server.script(
            Fault(
                status=404,
                body=google_error(
                    404, "NOT_FOUND", "models/imagen-4.0-generate-001 is not found for API version v1beta"
                ),
            )
        )
        code, body, _ = gen_json(
            "x",
            "--endpoint",
            server.url,
            "--model",
            "imagen-4.0-generate-001",
            "--library",
            lib,
            env={"GEMINI_API_KEY": "right-key-123"},
        )
        assert code == 4 and "gemini-3.1-flash-image" in body["error"]["message"]
        server.script(*[Fault(hang=True) for _ in range(5)])
        code, body, _ = gen_json(
            "x",
            "--endpoint",
            server.url,
            "--library",
            lib,
            "--timeout",
            "0.3",
            env={"GEMINI_API_KEY": "right-key-123"},
            timeout=60,
        )
        assert code == 5 and body["status"] == "error" and body["attempts"] == 5
    code, body, _ = gen_json(
        "x", "--endpoint", "http://127.0.0.1:9", "--library", lib, env={"GEMINI_API_KEY": "k-1234"}
    )
    assert code == 5 and "reach" in body["error"]["message"]


def test_human_output_has_progress_and_no_traceback(tmp_path):
    code, out, err = atelier(
        "generate", "a lighthouse", "--endpoint", "demo", "--count", "2", "--library", str(tmp_path / "lib")
    )
    assert code == 0 and out.count("saved ") == 2 and "Done: 2 images saved" in out and not err
    code, out, err = atelier("generate", "", "--endpoint", "demo", "--library", str(tmp_path / "lib"))
    assert code == 2 and "empty" in err and "Traceback" not in err


def test_models_json_with_discovery():
    code, out, _ = atelier("models", "--endpoint", "demo", "--json")
    models = {m["id"]: m for m in json.loads(out)}
    assert code == 0 and len(models) == 9
    assert models["imagen-4.0-generate-001"]["protocol"] == "predict"
    assert models["imagen-4.0-generate-001"]["replacement"] == "gemini-3.1-flash-image"
    assert all(m["served"] for m in models.values())


def test_models_on_google_without_key_lists_catalog_with_retirements():
    code, out, err = atelier("models", "--endpoint", "google")
    assert code == 0 and "retired 2026-08-17, use gemini-3.1-flash-image" in out and "No API key" in err


def test_rebuild_command(tmp_path):
    lib = tmp_path / "lib"
    gen_json("x", "--endpoint", "demo", "--library", str(lib), "--count", "2")
    (lib / ".atelier" / "index.sqlite3").unlink()
    code, out, _ = atelier("rebuild", "--library", str(lib), "--json")
    assert code == 0 and json.loads(out)["images"] == 2
    code, out, _ = atelier("history", "--json", "--library", str(lib))
    assert len(json.loads(out)[0]["images"]) == 2


def test_rebuild_json_lists_the_files_it_skipped(tmp_path):
    lib = tmp_path / "lib"
    gen_json("x", "--endpoint", "demo", "--library", str(lib))
    broken = lib / "images" / "broken.png"
    broken.write_bytes(png("broken")[:8] + b"no IHDR, only this")  # a PNG signature and nothing usable
    code, out, _ = atelier("rebuild", "--library", str(lib), "--json")
    report = json.loads(out)
    assert code == 0 and report["images"] == 1 and report["unreadable"] == 1
    assert [item["path"] for item in report["skipped"]] == [str(broken)]
    assert report["skipped"][0]["reason"].endswith(".")


def test_generate_prints_a_line_per_thought_and_draft_but_json_stays_one_object(tmp_path):
    from tests.sse_server import Reply, SSEServer, event, final_image, thought_image, thought_text

    streamed = [
        event(thought_text("**Composing the scene**\n\nA fox, low sun.")),
        event(thought_image(png("draft", 40, 30))),
        event(final_image(png("final", 64, 48))),
    ]
    lib = str(tmp_path / "lib")
    env = {"GEMINI_API_KEY": "k-stream-123"}
    args = ("a fox", "--model", "gemini-3-pro-image", "--library", lib)
    with SSEServer() as server:
        server.script("streamGenerateContent", Reply(events=streamed), Reply(events=streamed))
        code, out, err = atelier("generate", *args, "--endpoint", server.url, "--auth", "header", env=env)
        assert code == 0 and not err
        assert "  thinking (1/1): Composing the scene A fox, low sun.\n" in out
        assert "  draft (1/1): 40x30 image/png, not saved\n" in out
        assert out.index("thinking") < out.index("draft") < out.index("saved 1/1")
        code, body, _ = gen_json(*args, "--endpoint", server.url, "--auth", "header", env=env)
        assert code == 0 and body["status"] == "ok" and len(body["images"]) == 1
        server.script(
            "streamGenerateContent",
            Reply(
                status=429,
                content_type="application/json",
                body=json.dumps(google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded: requests per day.")).encode(),
            ),
        )
        code, body, _ = gen_json(*args, "--endpoint", server.url, "--auth", "header", env=env)
        assert code == 4 and body["error"]["kind"] == "daily_quota" and body["error"]["resume_at"] > 0
        assert body["attempts"] == 1  # a daily quota is not retried now


def test_a_budget_refuses_the_job_that_would_cross_it_after_the_one_before_went_through(tmp_path):
    lib = str(tmp_path / "lib")
    env = {"GEMINI_API_KEY": "k-budget-123"}
    with Emulator() as server:
        code, out, _ = atelier("budget", "set", "--daily", "0.20", "--endpoint", server.url, "--json", env=env)
        assert code == 0, out
        args = ("--model", "gemini-3-pro-image", "--endpoint", server.url, "--auth", "header", "--library", lib)
        code, first, _ = gen_json("a lighthouse", *args, env=env)
        assert code == 0 and first["cost_usd"] > 0.13  # one 1K image of 3 Pro Image: 1120 tokens
        sent = len(server.requests)
        code, second, err = gen_json("a second lighthouse", *args, env=env)
        assert code == 7 and second["status"] == "budget" and second["images"] == []
        assert "$0.20" in second["reason"] and "left" in second["reason"] and "daily" in second["reason"]
        assert len(server.requests) == sent  # nothing was sent
        code, spend, _ = atelier("spend", "--json", env=env)
        assert code == 0 and json.loads(spend)["attempts"] == 1


@pytest.mark.parametrize("args", [["frobnicate"], ["--frobnicate"], ["generate", "x", "--no-such-option"], ["-x"]])
def test_an_unknown_command_or_option_is_bad_input_never_a_window(args):
    code, out, err = atelier(*args, env={"QT_QPA_PLATFORM": "offscreen"}, timeout=60)
    assert code == 2 and err.startswith("atelier: ") and "Traceback" not in err


def test_refine_is_refused_by_a_budget_like_generate(tmp_path):
    lib = str(tmp_path / "lib")
    env = {"GEMINI_API_KEY": "k-budget-456"}
    with Emulator() as server:
        where = ("--endpoint", server.url, "--auth", "header", "--library", lib)
        code, first, _ = gen_json("a lighthouse", "--model", "gemini-3-pro-image", *where, env=env)
        assert code == 0
        assert atelier("budget", "set", "--daily", "0.20", "--endpoint", server.url, env=env)[0] == 0
        sent = len(server.requests)
        code, out, err = atelier("refine", first["generation_id"], "make it stormy", *where, "--json", env=env)
        assert code == 7 and json.loads(out)["status"] == "budget" and "left" in err
        assert len(server.requests) == sent  # nothing was sent
