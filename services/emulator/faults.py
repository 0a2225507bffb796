"""Scriptable faults, the record of requests, and Google's error envelope."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Fault:
    """What the emulator does instead of its normal answer, for the next matching request."""

    status: int = 200
    body: bytes | str | dict | None = None
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # accept the request and never answer
    cut_after: int | None = None  # announce the whole body, send this many bytes of it, close the connection
    match: str | None = None  # only requests whose path contains this


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: dict | None


class ApiFailure(Exception):
    """Raised by a handler to answer with Google's error envelope."""

    def __init__(self, code: int, status: str, message: str, details: list | None = None):
        super().__init__(message)
        self.code = code
        self.body = google_error(code, status, message, details)


def google_error(code: int, status: str, message: str, details: list | None = None) -> dict:
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def invalid(message: str) -> ApiFailure:
    return ApiFailure(400, "INVALID_ARGUMENT", message)


def not_found(message: str) -> ApiFailure:
    return ApiFailure(404, "NOT_FOUND", message)


def retry_info(seconds: float) -> dict:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}


def to_snake(value):
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): to_snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_snake(v) for v in value]
    return value


@dataclass
class Reply:
    """An answer that is not plain JSON with status 200: raw bytes (a download) or JSON with headers (an upload)."""

    status: int = 200
    body: bytes | dict = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
