"""The API key: the system keychain when there is one, else a file only the user can read; the environment wins.

The key is handed to the client and nowhere else: never logged, stored in the library, or put in a message.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from services.settings import write_atomically

log = logging.getLogger(__name__)
SERVICE = "Atelier"
ENV_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


@dataclass(frozen=True)
class KeyStatus:
    source: str | None  # "environment:NAME", "keychain", "file", or None
    keychain_available: bool
    fallback_path: Path


class KeyStore:
    def __init__(self, config_dir: Path):
        self.fallback_path = config_dir / "keys.json"
        # The keychain is asked once per endpoint and remembered until set() or clear() changes it: a keychain read
        # costs 50 ms or more and may wait on the system (an unlock prompt).
        self._cache: dict[str, tuple[str | None, str | None]] = {}
        self._keychain_available: bool | None = None
        self._lock = threading.Lock()

    def forget_cached(self) -> None:
        with self._lock:
            self._cache.clear()
            self._keychain_available = None

    # Keys are stored per endpoint, because a proxy's key is not Google's.
    def _account(self, endpoint_name: str) -> str:
        return f"api-key:{endpoint_name}"

    def keychain_available(self) -> bool:
        if self._keychain_available is None:
            self._keychain_available = self._probe_keychain()
        return self._keychain_available

    def _probe_keychain(self) -> bool:
        try:
            import keyring
            from keyring.backends import fail, null

            backend = keyring.get_keyring()
            chain = getattr(backend, "backends", [backend])
            return bool(chain) and not all(isinstance(b, fail.Keyring | null.Keyring) for b in chain)
        except Exception:  # any import or backend failure means: no keychain here
            return False

    def get(self, endpoint_name: str, *, keychain: bool = True) -> tuple[str | None, str | None]:
        """(key, source). The environment first: it is what a script or a shell session asked for now.

        keychain=False skips the system keychain (importing keyring and asking it costs 50 ms or more).
        """
        for var in ENV_VARS:
            value = os.environ.get(var, "").strip()
            if value:
                return value, f"environment:{var}"
        with self._lock:
            cached = self._cache.get(endpoint_name)
        if cached is not None and (keychain or cached[1] != "keychain"):
            return cached
        found = self._read_stored(endpoint_name, keychain)
        if keychain:
            with self._lock:
                self._cache[endpoint_name] = found
        return found

    def cached(self, endpoint_name: str) -> tuple[str | None, str | None] | None:
        """(key, source) if the store already knows it without asking the system; else None."""
        for var in ENV_VARS:
            value = os.environ.get(var, "").strip()
            if value:
                return value, f"environment:{var}"
        with self._lock:
            return self._cache.get(endpoint_name)

    def _read_stored(self, endpoint_name: str, keychain: bool) -> tuple[str | None, str | None]:
        if keychain and self.keychain_available():
            try:
                import keyring

                value = keyring.get_password(SERVICE, self._account(endpoint_name))
                if value:
                    return value, "keychain"
            except Exception as exc:
                log.warning("keychain read failed: %s", type(exc).__name__)
        value = self._read_file().get(endpoint_name)
        if value:
            return value, "file"
        return None, None

    def set(self, endpoint_name: str, key: str, *, allow_file: bool = False) -> str:
        """Stores the key; returns where. Without a keychain, only with `allow_file` (the user said yes)."""
        key = key.strip()
        if not key:
            raise ValueError("The key is empty.")
        with self._lock:
            self._cache.pop(endpoint_name, None)
        if self.keychain_available():
            import keyring

            keyring.set_password(SERVICE, self._account(endpoint_name), key)
            return "keychain"
        if not allow_file:
            raise RuntimeError(
                "This system has no keychain. The key can be kept in a file that only your user can read: "
                f"{self.fallback_path}"
            )
        keys = self._read_file()
        keys[endpoint_name] = key
        write_atomically(self.fallback_path, json.dumps(keys).encode(), mode=0o600)
        os.chmod(self.fallback_path, 0o600)
        return "file"

    def clear(self, endpoint_name: str) -> None:
        with self._lock:
            self._cache.pop(endpoint_name, None)
        if self.keychain_available():
            try:
                import keyring

                keyring.delete_password(SERVICE, self._account(endpoint_name))
            except Exception:
                pass
        keys = self._read_file()
        if keys.pop(endpoint_name, None) is not None:
            write_atomically(self.fallback_path, json.dumps(keys).encode(), mode=0o600)

    def status(self, endpoint_name: str) -> KeyStatus:
        _, source = self.get(endpoint_name)
        return KeyStatus(source, self.keychain_available(), self.fallback_path)

    def _read_file(self) -> dict:
        try:
            data = json.loads(self.fallback_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}
