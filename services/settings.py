"""Where Atelier keeps things, and the user's saved settings (a small JSON file, written atomically)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from services.catalog import DEFAULT_MODEL

APP_NAME = "Atelier"


@dataclass(frozen=True)
class AppPaths:
    config: Path
    cache: Path
    log: Path
    data: Path

    @classmethod
    def from_environment(cls) -> AppPaths:
        """`ATELIER_HOME` puts every folder under one directory (tests, the self-test, portable installs)."""
        home = os.environ.get("ATELIER_HOME")
        if home:
            root = Path(home)
            return cls(root / "config", root / "cache", root / "log", root / "data")
        return cls(
            Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        )

    def default_library(self) -> Path:
        if os.environ.get("ATELIER_HOME"):
            return self.data / "library"
        pictures = Path(platformdirs.user_pictures_dir())
        if pictures.is_dir():
            return pictures / APP_NAME
        return self.data / "library"


def write_atomically(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Temp file in the same folder, fsync, rename: a reader sees the old file or the new one, never half.

    `mode` is filtered by the umask, as for any file the user makes; secrets pass 0o600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        try:
            dfd = os.open(path.parent, os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass


DEFAULTS: dict = {
    "endpoint": None,  # None: Google when a key exists, else the offline demo
    "custom_url": "",
    "custom_auth": "query",
    "library": None,
    "model": DEFAULT_MODEL,
    "count": 1,
    "aspect_ratio": "1:1",
    "size": "1K",
    "person_generation": "allow_adult",
    "max_parallel": 4,
    "timeout_s": 120,
    "appearance": "system",  # system, light or dark
    "prompt_history": [],
    "window": {},
}


class Settings:
    """Saved settings. Reads are from memory; `save()` rewrites the file atomically.

    Safe to save from a worker thread while the GUI thread changes values: save() copies the values under a lock,
    and a save that was overtaken by a newer one while it waited does not write its older copy over it.
    """

    def __init__(self, path: Path):
        self.path = path
        self._values = dict(DEFAULTS)
        self._lock = threading.Lock()  # guards _values and _version
        self._write_lock = threading.Lock()  # one writer at a time
        self._version = 0  # bumped by every change
        self._written = -1  # the version on disk
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(stored, dict):
                self._values.update(stored)
        except (OSError, ValueError):
            pass

    def get(self, name: str, default=None):
        value = self._values.get(name, default)
        return default if value is None else value

    def set(self, name: str, value) -> None:
        with self._lock:
            self._values[name] = value
            self._version += 1

    def update(self, **values) -> None:
        with self._lock:
            self._values.update(values)
            self._version += 1

    def save(self) -> None:
        with self._lock:
            version = self._version
            data = json.dumps(self._values, indent=2, sort_keys=True).encode()
        with self._write_lock:
            if version <= self._written:
                return  # a newer copy is already on disk
            write_atomically(self.path, data)
            self._written = version
