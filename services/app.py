"""The services, built once by main.py (the composition root) and handed to the CLI or the window."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from services import endpoints
from services.endpoints import Endpoint
from services.keys import KeyStore
from services.settings import AppPaths, Settings, write_atomically

if TYPE_CHECKING:
    from services.catalog import Catalog
    from services.emulator import Emulator  # started (and imported) on first use of the offline demo
    from services.ledger import Ledger
    from services.library import Library  # imported by open_library, off the window's first paint

log = logging.getLogger(__name__)
_crash_log = None  # the file faulthandler writes to, once opened


def tune_memory() -> None:
    """glibc raises its mmap threshold after the first large free, so the 16 MB buffers of each 2K image then come
    from thread arenas that never shrink: resident memory grew 43 MB per 100 images. A fixed 1 MB threshold keeps
    large buffers in mmap, returned on free (12 MB per 100, same run). Call once, first thing in the process."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl): nothing to tune
        pass


def share_the_gil_quickly() -> None:
    """For the window's process: a thread waiting for the GIL asks the running one to let go after 1 ms instead of
    CPython's 5. The GUI thread enters Python several times a frame (each Qt event that reaches Python code), and
    while a worker ran Python (a search's listing of 100,000 rows) each entry waited up to the interval:
    window_stall_ms_max 28-50 ms against 52-59, alternately, three runs each."""
    import sys

    sys.setswitchinterval(0.001)


def freeze_startup_objects() -> None:
    """Once start-up is done: the objects made so far (modules, classes, the window's widgets; ~60,000 with the
    window) leave the cycle collector's reach. Each full collection walked them all with the GIL held, 20 ms here
    and over 50 under load, whichever thread it fell in: the window's longest stalls at 100,000 images. They live as
    long as the process; garbage among them is still freed by reference counts (cycles among them are not)."""
    import gc

    gc.collect()
    gc.freeze()


def silence_url_logging() -> None:
    """httpx logs every request URL at INFO; a `?key=` would go with it."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def enable_crash_log(paths: AppPaths) -> None:
    """faulthandler writes a crash (a fatal signal) to crash.log in the user's log folder; once per process."""
    global _crash_log
    import faulthandler

    if _crash_log is not None:
        return
    try:
        paths.log.mkdir(parents=True, exist_ok=True)
        _crash_log = open(paths.log / "crash.log", "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        faulthandler.enable(_crash_log)
    except OSError:
        pass


def setup_logging(paths: AppPaths, *, console: bool = False) -> Path | None:
    """Logs to a file in the user's log folder (a windowed build has no console); faulthandler writes there too.
    The window calls it after its first paint (logging.handlers takes ~12 ms to import), enable_crash_log before."""
    import logging.handlers

    enable_crash_log(paths)
    silence_url_logging()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    log_file = None
    try:
        paths.log.mkdir(parents=True, exist_ok=True)
        log_file = paths.log / "atelier.log"
        handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    except OSError:
        log_file = None
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        root.addHandler(stream)
    return log_file


@dataclass
class Services:
    paths: AppPaths
    settings: Settings
    keys: KeyStore
    _catalog: Catalog | None = field(default=None, repr=False)
    _demo: Emulator | None = field(default=None, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)

    @classmethod
    def create(cls, paths: AppPaths | None = None, *, prepare_qt: bool = True) -> Services:
        """prepare_qt=False: the caller runs services.imaging.prepare_qt() itself on the main thread before any
        worker starts (the window does, after its first paint: it costs about 100 ms)."""
        paths = paths or AppPaths.from_environment()
        if prepare_qt:
            from services.imaging import prepare_qt as prepare

            prepare()  # on the main thread, before any worker exists
        return cls(paths, Settings(paths.config / "settings.json"), KeyStore(paths.config))

    @property
    def catalog(self) -> Catalog:
        """The models Atelier knows, read on first use (the window's first paint shows none)."""
        if self._catalog is None:
            from services.catalog import Catalog

            self._catalog = Catalog.load()
        return self._catalog

    def library_root(self, override: str | None = None) -> Path:
        """--library, else ATELIER_LIBRARY, else the saved setting, else the default folder."""
        chosen = override or os.environ.get("ATELIER_LIBRARY") or self.settings.get("library")
        return Path(chosen).expanduser() if chosen else self.paths.default_library()

    def open_library(self, override: str | None = None) -> Library:
        from services.library import Library

        return Library(self.library_root(override)).open()

    def saved_endpoint(self, *, keychain: bool = True) -> Endpoint:
        """The endpoint from settings; with none saved, Google when a key exists, else the offline demo.

        keychain=False decides without asking the system keychain (the window's first paint does not wait).
        """
        name = self.settings.get("endpoint")
        if name == "custom" and self.settings.get("custom_url"):
            return endpoints.custom(self.settings.get("custom_url"), self.settings.get("custom_auth", "query"))
        if name in ("google", "chainhub", "demo"):
            return endpoints.resolve(name)
        key, _ = self.keys.get("google", keychain=keychain)
        return endpoints.google() if key else endpoints.demo()

    def endpoint(self, spec: str | None = None, auth: str | None = None, *, cheap: bool = False) -> Endpoint:
        """cheap: decided without the system keychain and without starting the demo server (so its URL is not
        usable yet); for what the window shows before its first paint."""
        endpoint = endpoints.resolve(spec, auth) if spec else self.saved_endpoint(keychain=not cheap)
        if endpoint.name == "demo" and not cheap:
            return endpoints.demo(self.demo_server().url)
        return endpoint

    def key_for(self, endpoint: Endpoint) -> str | None:
        if not endpoint.needs_key:
            return None
        return self.keys.get(endpoint.name)[0]

    def ledger(self) -> Ledger:
        """The spending ledger of this user on this computer (in the user data folder, across all libraries)."""
        if self._ledger is None:
            from services.ledger import Ledger, ledger_path

            self._ledger = Ledger(ledger_path(self.paths))
        return self._ledger

    def batch_resolver(self, library_root: Path):
        """From a batch record's saved endpoint to (Endpoint, key), for the batch service. The demo is this
        process's emulator, which answers a batch as it is created and keeps it in the library, because the
        process that fetches may be another one."""

        def resolve(saved: dict) -> tuple[Endpoint, str | None]:
            if saved["name"] == "demo":
                demo = self.demo_server()
                demo.batch_turnaround = 0.0
                demo.keep_batches_in(Path(library_root) / ".atelier" / "demo-batches")
                return self.endpoint("demo"), None
            auth = tuple(saved["auth"])
            endpoint = Endpoint(saved["name"], saved["base_url"], auth, saved.get("label", saved["name"]))
            return endpoint, self.key_for(endpoint)

        return resolve

    def demo_server(self) -> Emulator:
        """The offline endpoint, started on first use, in this process, on loopback."""
        if self._demo is None:
            from services.emulator import Emulator

            latency = float(os.environ.get("ATELIER_DEMO_LATENCY", "0.4"))
            self._demo = Emulator(latency=latency, signing_secret=self._demo_secret()).start()
        return self._demo

    def _demo_secret(self) -> bytes | None:
        """The demo signs its conversation turns with one secret per user, kept in the user data folder, so a
        conversation saved today can be refined after a restart (a new secret would refuse its signatures, as
        Google refuses a forged one). None (a fresh secret per run) where the folder cannot be written."""
        path = self.paths.data / "demo-signing-secret"
        try:
            secret = path.read_bytes()
            if len(secret) >= 32:
                return secret
        except OSError:
            pass
        try:
            secret = os.urandom(32)
            write_atomically(path, secret, mode=0o600)
            return secret
        except OSError:
            return None

    def shutdown(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self._demo is not None:
            self._demo.stop()
            self._demo = None
