"""One vocabulary for where a generation stands, and the kinds of failure; used by the library, the job queue,
the command line and the window alike. The window's words for them live in one table here too, so no part keeps
its own mapping.

A job and the generation it records share the vocabulary: a job is WAITING, RUNNING or RETRYING while it runs and
ends in the status its generation is recorded with. A generation's row in the library is RUNNING until it ends.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITING = "waiting"  # a job queued behind others; never stored
    RUNNING = "running"
    RETRYING = "retrying"  # a job between two attempts; never stored
    PAUSED = "paused"  # a job held back until its endpoint's quota resets; never stored
    OK = "ok"  # at least one image saved
    BLOCKED = "blocked"  # refused on safety grounds
    NO_IMAGE = "no_image"  # answered without an image
    ERROR = "error"  # the server refused, retries ran out, the network or the disk failed
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the process ended while it ran; found at the next start
    BUDGET = "budget"  # refused before sending: it would cross a spending cap
    IMPORTED = "imported"  # an image another tool made, indexed from an added folder

    @property
    def finished(self) -> bool:
        return self not in (Status.WAITING, Status.RUNNING, Status.RETRYING, Status.PAUSED)

    @property
    def failed(self) -> bool:
        """An attempt that ended without an image: shown as its own tile, with its reason and a retry."""
        return self in (Status.BLOCKED, Status.NO_IMAGE, Status.ERROR, Status.CANCELLED, Status.INTERRUPTED)

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS: dict[Status, str] = {
    Status.WAITING: "Waiting",
    Status.RUNNING: "Running",
    Status.RETRYING: "Retrying",
    Status.PAUSED: "Paused",
    Status.OK: "Done",
    Status.BLOCKED: "Blocked",
    Status.NO_IMAGE: "No image",
    Status.ERROR: "Failed",
    Status.CANCELLED: "Cancelled",
    Status.INTERRUPTED: "Interrupted",
    Status.BUDGET: "Over budget",
    Status.IMPORTED: "Imported",
}

# The statuses a generation row can hold in the index.
STORED = tuple(s for s in Status if s not in (Status.WAITING, Status.RETRYING, Status.PAUSED))


class ErrorKind(StrEnum):
    """What went wrong, chosen where the failure is parsed; the UI and the CLI branch on this, never on words."""

    INPUT = "input"  # the request cannot be sent as it is; nothing was sent
    AUTH = "auth"  # no key, a bad key, a key the server refuses
    RATE_LIMIT = "rate_limit"  # per-minute limits: waiting cures it (RetryInfo)
    DAILY_QUOTA = "daily_quota"  # a per-day quota: passes at midnight Pacific time
    QUOTA = "quota"  # limit 0, free tier, billing or credits exhausted: waiting does not cure it
    OVERLOADED = "overloaded"
    NOT_FOUND = "not_found"
    RETIRED_MODEL = "retired_model"  # the model is gone from this endpoint; the catalog names a replacement
    BAD_REQUEST = "bad_request"
    BLOCKED_PROMPT = "blocked_prompt"  # refused on safety grounds before generating
    SIGNATURE = "signature"  # a conversation turn lost or changed its thought signature
    PRECONDITION = "precondition"  # billing or region
    SERVER = "server"
    BAD_RESPONSE = "bad_response"  # an answer that is not the API's (HTML, half a body, bad base64)
    UNSUPPORTED = "unsupported"  # the endpoint has no such capability (streaming, batch mode)
    NETWORK = "network"  # no connection, or cut mid-answer
    TIMEOUT = "timeout"
    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    LIBRARY = "library"  # the library cannot be used for another reason
    INDEX_CORRUPT = "index_corrupt"  # the index cannot be read: rebuild it from the files
    INDEX_BUSY = "index_busy"  # another process holds the index too long
    BUDGET = "budget"  # a spending cap would be crossed
    BUG = "bug"  # an exception nobody expected; the traceback is in the log
