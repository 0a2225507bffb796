"""The Files API: resumable uploads (`/upload/{version}/files`), `files/{id}` get/list/delete, and downloads of the
files the emulator makes (batch results) at `files/{id}:download?alt=media`, under `/download/` or not.

Files live on disk, never whole in memory (a batch's results reach hundreds of MB): in a temporary folder removed
with the store, or in a kept folder (`keep_in`: `{id}` and `{id}.json`), whose files an emulator started later by
another process serves."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from weakref import finalize

from services.emulator.faults import ApiFailure, Reply, invalid, not_found

KEEP_SECONDS = 48 * 3600


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"


def write_atomically(path: Path, data: bytes) -> None:
    """A reader in another process sees the old file or the new one, never half of one."""
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    part.replace(path)


@dataclass
class StoredFile:
    id: str
    display_name: str
    mime_type: str
    size: int
    sha256: str
    source: str  # UPLOADED or GENERATED
    created: float = field(default_factory=time.time)

    def resource(self, base_url: str, version: str = "v1beta") -> dict:
        entry = {
            "name": f"files/{self.id}",
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(self.size),
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.created),
            "expirationTime": rfc3339(self.created + KEEP_SECONDS),
            "sha256Hash": self.sha256,
            "uri": f"{base_url}/{version}/files/{self.id}",
            "state": "ACTIVE",
            "source": self.source,
        }
        if self.source == "GENERATED":
            entry["downloadUri"] = f"{base_url}/download/{version}/files/{self.id}:download?alt=media"
        return entry


class FileStore:
    def __init__(self):
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._folder_lock = threading.Lock()
        self._directory: Path | None = None  # made on the first file: most emulators never store one
        self._cleanup = None
        self.refuse_deletes = 0  # the next this many deletes are refused (403), as a project without the right would

    @property
    def directory(self) -> Path:
        with self._folder_lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="atelier-emulator-files-"))
                self._cleanup = finalize(self, shutil.rmtree, self._directory, ignore_errors=True)
            return self._directory

    def close(self) -> None:
        """Removes a temporary folder and its files now (a kept folder stays)."""
        if self._cleanup is not None:
            self._cleanup()

    def keep_in(self, directory: Path) -> None:
        """Keeps every file in `directory/files` from now on (moving those made so far), and serves the files
        already there."""
        folder = Path(directory) / "files"
        folder.mkdir(parents=True, exist_ok=True)
        old = self._directory
        with self._lock:
            for stored in self._files.values() if old is not None else ():
                shutil.move(old / stored.id, folder / stored.id)
                self._describe(folder, stored)
            self.close()
            self._directory, self._cleanup = folder, None
            for meta_path in folder.glob("*.json"):
                try:
                    meta = json.loads(meta_path.read_text(encoding="utf-8"))
                    if (folder / meta["id"]).is_file():
                        self._files.setdefault(meta["id"], StoredFile(**meta))
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # a half-written or foreign file is not a stored file

    @staticmethod
    def _describe(folder: Path, stored: StoredFile) -> None:
        """The description that makes a file visible to a later emulator; written after its data."""
        write_atomically(folder / f"{stored.id}.json", json.dumps(stored.__dict__).encode())

    def path(self, stored: StoredFile) -> Path:
        return self.directory / stored.id

    def spool(self) -> Path:
        """A new path in the store's folder to write a file into, then `add_written` it."""
        return self.directory / f"{os.urandom(6).hex()}.part"

    def add(self, display_name: str, mime_type: str, data: bytes, source: str = "GENERATED") -> StoredFile:
        target = self.spool()
        target.write_bytes(data)
        return self.add_written(display_name, mime_type, target, source)

    def add_written(self, display_name: str, mime_type: str, written: Path, source: str = "GENERATED") -> StoredFile:
        digest = hashlib.sha256()
        with open(written, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        file_id = os.urandom(6).hex()
        stored = StoredFile(file_id, display_name, mime_type, written.stat().st_size, digest.hexdigest(), source)
        with self._lock:
            written.replace(self.directory / file_id)
            self._describe(self.directory, stored)
            self._files[stored.id] = stored
        return stored

    def get(self, name: str) -> StoredFile:
        file_id = name.removeprefix("files/")
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise not_found(f"File {file_id} does not exist or you do not have permission to access it.")
        return stored

    # --- resumable upload ---------------------------------------------------------------------------------------

    def upload(self, emulator, version: str, query: dict, headers: dict, body, raw: bytes) -> Reply:
        command = headers.get("x-goog-upload-command", "").replace(" ", "")
        upload_id = (query.get("upload_id") or [None])[0]
        if upload_id is None:
            if command != "start" or headers.get("x-goog-upload-protocol") != "resumable":
                raise invalid("Only resumable uploads are supported: send X-Goog-Upload-Protocol: resumable, start.")
            meta = (body.get("file") or {}) if isinstance(body, dict) else {}
            upload_id = os.urandom(8).hex()
            with self._lock:
                self._uploads[upload_id] = {
                    "display_name": meta.get("displayName") or meta.get("display_name") or "",
                    "mime_type": headers.get("x-goog-upload-header-content-type") or meta.get("mimeType") or "",
                    "size": int(headers.get("x-goog-upload-header-content-length") or 0),
                    "data": bytearray(),
                }
            url = f"{emulator.url}/upload/{version}/files?upload_id={upload_id}&upload_protocol=resumable"
            return Reply(body={}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})
        with self._lock:
            pending = self._uploads.get(upload_id)
        if pending is None:
            raise not_found("The upload session was not found or has expired.")
        offset = int(headers.get("x-goog-upload-offset") or 0)
        if offset != len(pending["data"]):
            raise invalid(f"Upload offset {offset} does not match the {len(pending['data'])} bytes received.")
        pending["data"] += raw
        if "finalize" not in command.split(","):
            return Reply(body={}, headers={"X-Goog-Upload-Status": "active"})
        with self._lock:
            self._uploads.pop(upload_id, None)
        data = bytes(pending["data"])
        if pending["size"] and pending["size"] != len(data):
            raise invalid(f"The upload declared {pending['size']} bytes and sent {len(data)}.")
        stored = self.add(pending["display_name"], pending["mime_type"] or "application/octet-stream", data, "UPLOADED")
        return Reply(body={"file": stored.resource(emulator.url, version)}, headers={"X-Goog-Upload-Status": "final"})

    # --- the rest ------------------------------------------------------------------------------------------------

    def route(self, emulator, method: str, resource: str, version: str, query: dict):
        """files, files/{id}, files/{id}:download."""
        if resource == "files" and method == "GET":
            with self._lock:
                listed = sorted(self._files.values(), key=lambda f: f.created, reverse=True)
            return 200, {"files": [f.resource(emulator.url, version) for f in listed]}
        name, _, verb = resource.partition(":")
        if verb == "download" and method == "GET":
            stored = self.get(name)
            if stored.source != "GENERATED":
                raise invalid("Only generated files can be downloaded.")
            return Reply(body=self.path(stored), content_type=stored.mime_type)  # sent from disk
        if verb:
            raise not_found(f"The requested URL /{version}/{resource} was not found on this server.")
        stored = self.get(name)
        if method == "GET":
            return 200, stored.resource(emulator.url, version)
        if method == "DELETE":
            with self._lock:
                if self.refuse_deletes > 0:
                    self.refuse_deletes -= 1
                    raise ApiFailure(
                        403, "PERMISSION_DENIED", "The caller does not have permission to delete this file."
                    )
                self._files.pop(stored.id, None)
                (self.directory / f"{stored.id}.json").unlink(missing_ok=True)
                (self.directory / stored.id).unlink(missing_ok=True)
            return 200, {}
        raise not_found(f"The requested URL /{version}/{resource} was not found on this server.")
