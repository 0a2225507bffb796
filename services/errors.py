"""One error type per road a failure can take; each carries a sentence a person can act on."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.status import ErrorKind


class AtelierError(Exception):
    """Base: `str(error)` is always a complete sentence, safe to show (no key, no traceback)."""

    attempts = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnreadableFile(Exception):
    """An image file that cannot be read or is not a whole image; `str()` is a sentence: why it was skipped."""


class Cancelled(Exception):
    """A worker's read given up: whoever asked for it no longer waits for it (a newer search, say)."""


class InputError(AtelierError):
    """The request cannot be sent as it is (bad prompt, count, ratio, reference file...). Nothing was sent."""


class LibraryError(AtelierError):
    """The library folder or its index cannot be written or read.

    `kind`: DISK_FULL or READ_ONLY (the library can still be browsed), INDEX_BUSY, INDEX_CORRUPT (rebuild it), or
    LIBRARY for anything else.
    """

    http_status = None
    status = "LIBRARY"

    def __init__(self, message: str, *, kind: ErrorKind = ErrorKind.LIBRARY):
        super().__init__(message)
        self.kind = kind


class BudgetError(AtelierError):
    """A job would cross a spending cap; refused before anything was sent. The sentence names the cap, what is
    spent and what is left."""

    http_status = None
    status = "BUDGET"

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None,
        period: str,
        cap: float,
        spent: float,
        estimated: float | None,
        left: float | None = None,
    ):
        super().__init__(message)
        self.kind = ErrorKind.BUDGET
        self.endpoint = endpoint  # None: the cap for all endpoints
        self.period = period  # daily or monthly
        self.cap = cap
        self.spent = spent
        self.left = max(0.0, cap - spent) if left is None else left
        self.estimated = estimated


class LedgerError(AtelierError):
    """The spending ledger (in the user data folder) cannot be read or written."""


@dataclass
class ApiErrorInfo:
    http_status: int | None
    status: str | None
    message: str


class ApiError(AtelierError):
    """The server answered, and the answer was a refusal or garbage.

    `kind` is an ErrorKind chosen where the answer was parsed (services/api_errors.py). `resume_at` (epoch seconds)
    is set on DAILY_QUOTA: the moment the quota resets (midnight Pacific time).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        status: str | None = None,
        kind: ErrorKind = ErrorKind.SERVER,
        retryable: bool = False,
        retry_after: float | None = None,
        reason: str | None = None,
        server_message: str | None = None,
        resume_at: float | None = None,
    ):
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.reason = reason
        self.server_message = server_message
        self.resume_at = resume_at

    def info(self) -> ApiErrorInfo:
        return ApiErrorInfo(self.http_status, self.status, self.message)


class NetworkError(AtelierError):
    """No usable answer arrived: no connection, a timeout, or a connection cut mid-answer."""

    def __init__(self, message: str, *, kind: ErrorKind = ErrorKind.NETWORK):
        super().__init__(message)
        self.kind = kind  # NETWORK (no connection, or cut mid-answer) or TIMEOUT
        self.http_status = None
        self.status = "TIMEOUT" if kind == ErrorKind.TIMEOUT else "NETWORK"
        self.retryable = True
        self.retry_after = None
        self.nothing_sent = False  # True: no connection was made, so the server received nothing


@dataclass
class Redactor:
    """Removes secrets from any text before it may be shown, logged or stored."""

    secrets: set[str] = field(default_factory=set)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            self.secrets.add(secret)

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)


def redact(text: str, secrets: set[str] | frozenset[str] | tuple = ()) -> str:
    import re

    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "[redacted]")
    text = re.sub(r"(?i)([?&](?:key|api_key|apikey)=)[^&#\s\"']+", r"\1[redacted]", text)
    text = re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+", r"\1[redacted]", text)
    text = re.sub(r"(?i)(x-goog-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+", r"\1[redacted]", text)
    return text
