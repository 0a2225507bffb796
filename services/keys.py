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


class KeychainError(RuntimeError):
    """The system keychain is there but refused (locked, or its service failed); the message is one sentence."""


@dataclass(frozen=True)
class KeyStatus:
    source: str | None  # "environment:NAME", "keychain", "file", or None
    keychain_available: bool
    fallback_path: Path
    problem: str | None = None  # why the keychain could not be read (locked...), when it could not


def _keychain_refused(exc: Exception, doing: str) -> KeychainError:
    """One sentence for a keychain failure; the exception's text is not used (it is the backend's, not ours)."""
    try:
        from keyring.errors import KeyringLocked

        locked = isinstance(exc, KeyringLocked) or "Locked" in type(exc).__name__
    except ImportError:
        locked = False
    if locked:
        return KeychainError(
            f"The system keychain is locked, so the key could not be {doing}. Unlock it (log in to your desktop "
            "session, or open your keychain app) and try again, or set GEMINI_API_KEY."
        )
    return KeychainError(f"The system keychain did not answer ({type(exc).__name__}), so the key could not be {doing}.")


class KeyStore:
    def __init__(self, config_dir: Path):
        self.fallback_path = config_dir / "keys.json"
        # The keychain is asked once per endpoint and remembered until set() or clear() changes it: a keychain read
        # costs 50 ms or more and may wait on the system (an unlock prompt). A refusal (locked) is not remembered.
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
        """A keychain keyring recommends (priority 1 or more): not its null or fail backends, and not a plain-text
        file such as keyrings.alt's (priority below 1), which would put the key in clear on disk unasked."""
        if self._keychain_available is None:
            self._keychain_available = self._probe_keychain()
        return self._keychain_available

    def _probe_keychain(self) -> bool:
        try:
            import keyring

            backend = keyring.get_keyring()
            chain = getattr(backend, "backends", None) or [backend]
            return any(type(b).priority >= 1 for b in chain)
        except Exception:  # any import, backend or D-Bus failure means: no keychain here
            return False

    def _read_keychain(self, endpoint_name: str) -> str | None:
        import keyring

        try:
            return keyring.get_password(SERVICE, self._account(endpoint_name))
        except Exception as exc:
            raise _keychain_refused(exc, "read") from None

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
        key, source, problem = self._find(endpoint_name, keychain=keychain)
        if keychain and problem is None:
            with self._lock:
                self._cache[endpoint_name] = (key, source)
        return key, source

    def cached(self, endpoint_name: str) -> tuple[str | None, str | None] | None:
        """(key, source) if the store already knows it without asking the system; else None."""
        for var in ENV_VARS:
            value = os.environ.get(var, "").strip()
            if value:
                return value, f"environment:{var}"
        with self._lock:
            return self._cache.get(endpoint_name)

    def _find(self, endpoint_name: str, *, keychain: bool = True) -> tuple[str | None, str | None, str | None]:
        """(key, source, why the keychain could not be read)."""
        for var in ENV_VARS:
            value = os.environ.get(var, "").strip()
            if value:
                return value, f"environment:{var}", None
        problem = None
        if keychain and self.keychain_available():
            try:
                value = self._read_keychain(endpoint_name)
                if value:
                    return value, "keychain", None
            except KeychainError as exc:
                log.warning("keychain read failed: %s", exc)
                problem = str(exc)
        value = self._read_file().get(endpoint_name)
        if value:
            return value, "file", problem
        return None, None, problem

    def set(self, endpoint_name: str, key: str, *, allow_file: bool = False) -> str:
        """Stores the key; returns where. Without a keychain, only with `allow_file` (the user said yes).

        A keychain that is there but refuses (locked) raises KeychainError even with `allow_file`: a second copy in
        a file would disagree with the keychain's once it is unlocked.
        """
        key = key.strip()
        if not key:
            raise ValueError("The key is empty.")
        with self._lock:
            self._cache.pop(endpoint_name, None)
        if self.keychain_available():
            import keyring

            try:
                keyring.set_password(SERVICE, self._account(endpoint_name), key)
            except Exception as exc:
                raise _keychain_refused(exc, "stored") from None
            self._drop_from_file(endpoint_name)  # an older key kept in the file stays no longer in clear on disk
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
        """Removes the key from the file and the keychain; KeychainError if the keychain kept it (locked)."""
        with self._lock:
            self._cache.pop(endpoint_name, None)
        self._drop_from_file(endpoint_name)
        if self.keychain_available():
            import keyring
            from keyring.errors import PasswordDeleteError

            try:
                keyring.delete_password(SERVICE, self._account(endpoint_name))
            except PasswordDeleteError:
                pass  # none stored there
            except Exception as exc:
                raise _keychain_refused(exc, "removed") from None

    def status(self, endpoint_name: str) -> KeyStatus:
        known = self.cached(endpoint_name)
        if known is not None:
            return KeyStatus(known[1], self.keychain_available(), self.fallback_path)
        key, source, problem = self._find(endpoint_name)
        if problem is None:
            with self._lock:
                self._cache[endpoint_name] = (key, source)
        return KeyStatus(source, self.keychain_available(), self.fallback_path, problem)

    def _drop_from_file(self, endpoint_name: str) -> None:
        keys = self._read_file()
        if keys.pop(endpoint_name, None) is not None:
            write_atomically(self.fallback_path, json.dumps(keys).encode(), mode=0o600)

    def _read_file(self) -> dict:
        try:
            data = json.loads(self.fallback_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}
