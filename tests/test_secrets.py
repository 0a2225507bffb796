"""The key never lands anywhere: no file under home, library, config, cache or log, and no output."""

import json
import os
import subprocess
import sys
from pathlib import Path

from services.emulator import Emulator, Fault, google_error, retry_info
from tests.helpers import png

ROOT = Path(__file__).resolve().parent.parent
KEY = "AIzaUNIQUE-secret-7f3c9e21d4b8"


def test_key_appears_nowhere(tmp_path, isolated_home):
    lib = tmp_path / "lib"
    ref = tmp_path / "ref.png"
    ref.write_bytes(png("ref"))
    outputs = []
    env = {**os.environ, "GEMINI_API_KEY": KEY}

    def gen(*args):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "generate", *args, "--library", str(lib)],
            capture_output=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
        outputs.append(proc.stdout + proc.stderr)
        return proc.returncode

    with Emulator(require_key=KEY) as server:
        for auth in ("header", "query", "bearer"):
            base = ["--endpoint", server.url, "--auth", auth]
            assert gen("a fox", *base, "--image", str(ref)) == 0
            assert gen("a fox", *base, "--json") == 0
            assert gen("a fox #blocked", *base, "--json") == 3
            server.script(Fault(status=429, body=google_error(429, "RESOURCE_EXHAUSTED", "slow", [retry_info(0.01)])))
            assert gen("retry", *base) == 0
            server.script(
                Fault(status=500, body=f"<html><title>proxy saw key={KEY}</title></html>", content_type="text/html"),
                *[Fault(status=500, body=f"echo ?key={KEY}")] * 4,
            )
            assert gen("echo", *base, "--json") == 4
            server.script(Fault(status=400, body=google_error(400, "INVALID_ARGUMENT", f"bad key {KEY}")))
            assert gen("bad", *base, "--json") == 4
            server.script(*[Fault(hang=True)] * 5)
            assert gen("hang", *base, "--timeout", "0.2", "--json") == 5
            proc = subprocess.run(
                [sys.executable, str(ROOT / "main.py"), "models", *base, "--json"],
                capture_output=True,
                env=env,
                cwd=ROOT,
                timeout=60,
            )
            outputs.append(proc.stdout + proc.stderr)
        # the key really was sent, so the test can fail
        sent = json.dumps([[r.headers, r.query] for r in server.requests])
        assert KEY in sent
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "history", "--json", "--library", str(lib)],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    outputs.append(proc.stdout + proc.stderr)
    needle = KEY.encode()
    assert not [o for o in outputs if needle in o]
    written = [p for root in (lib, isolated_home) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in written) and any(p.name == "atelier.log" for p in written)
    leaks = [p for p in written if needle in p.read_bytes()]
    assert leaks == []
