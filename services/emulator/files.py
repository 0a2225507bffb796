"""The Files API: resumable uploads (`/upload/{version}/files`), `files/{id}` get/list/delete, and downloads of the
files the emulator makes (batch results) at `files/{id}:download?alt=media`, under `/download/` or not."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field

from services.emulator.faults import Reply, invalid, not_found

KEEP_SECONDS = 48 * 3600


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"


@dataclass
class StoredFile:
    id: str
    display_name: str
    mime_type: str
    data: bytes
    source: str  # UPLOADED or GENERATED
    created: float = field(default_factory=time.time)

    def resource(self, base_url: str, version: str = "v1beta") -> dict:
        entry = {
            "name": f"files/{self.id}",
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.created),
            "expirationTime": rfc3339(self.created + KEEP_SECONDS),
            "sha256Hash": hashlib.sha256(self.data).hexdigest(),
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

    def add(self, display_name: str, mime_type: str, data: bytes, source: str = "GENERATED") -> StoredFile:
        stored = StoredFile(os.urandom(6).hex(), display_name, mime_type, data, source)
        with self._lock:
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
            return Reply(body=stored.data, content_type=stored.mime_type)
        if verb:
            raise not_found(f"The requested URL /{version}/{resource} was not found on this server.")
        stored = self.get(name)
        if method == "GET":
            return 200, stored.resource(emulator.url, version)
        if method == "DELETE":
            with self._lock:
                self._files.pop(stored.id, None)
            return 200, {}
        raise not_found(f"The requested URL /{version}/{resource} was not found on this server.")
