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
    """Saved settings. Reads are from memory; `save()` rewrites the file atomically."""

    def __init__(self, path: Path):
        self.path = path
        self._values = dict(DEFAULTS)
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
        self._values[name] = value

    def update(self, **values) -> None:
        self._values.update(values)

    def save(self) -> None:
        data = json.dumps(self._values, indent=2, sort_keys=True).encode()
        write_atomically(self.path, data)
