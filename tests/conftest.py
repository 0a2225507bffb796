import asyncio
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Set before anything imports Qt or keyring; never by hand.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QT_API"] = "pyside6"
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.emulator import Emulator  # noqa: E402

# Property-based tests run a fixed, derandomized number of examples, so CI time is predictable and a failure
# reproduces on every run; no example database is written.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """No test reads or writes the user's real settings, keys, logs, library or trash."""
    home = tmp_path / "atelier-home"
    monkeypatch.setenv("ATELIER_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("ATELIER_DEMO_LATENCY", "0")
    monkeypatch.setenv("ATELIER_RETRY_BASE_DELAY", "0.01")  # the policy's shape is tested in test_client
    for var in ("ATELIER_LIBRARY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    from services.streaming import STREAM_SUPPORT

    STREAM_SUPPORT.forget()  # which endpoints stream is learnt per process; each test starts without it
    return home


@pytest.fixture(scope="module")
def qloop(qapp):
    """A qasync loop on the running Qt application, for tests of parts that run coroutines (the window's way)."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)  # the other test modules use asyncio.run
    loop._QEventLoop__is_running = False  # qasync marks an already-running loop; close() joins its threads
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def emulator():
    with Emulator() as server:
        yield server


@pytest.fixture
def library(tmp_path):
    from services.library import Library

    lib = Library(tmp_path / "library").open()
    yield lib
    lib.close()


def run(coro):
    return asyncio.run(coro)


async def no_sleep(_seconds):
    await asyncio.sleep(0)


class SleepRecorder:
    """Stands in for asyncio.sleep in the client so that retry timing is checked exactly, without waiting."""

    def __init__(self):
        self.delays = []

    async def __call__(self, seconds):
        self.delays.append(seconds)
        await asyncio.sleep(0)
