"""What the banner says about the connection and about a failed job: pure functions over typed state (the kind of
an error, never the words of its message), so the window only shows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.status import ErrorKind, Status
from ui.common import tr

if TYPE_CHECKING:
    from services.jobs import Job  # the window's first paint shows a notice before the job queue is imported

SETTINGS_KINDS = (ErrorKind.AUTH, ErrorKind.PRECONDITION)
NETWORK_KINDS = (ErrorKind.NETWORK, ErrorKind.TIMEOUT)
WAIT_KINDS = (ErrorKind.RATE_LIMIT, ErrorKind.RETIRED_MODEL)  # a used-up quota pauses the queue: its own banner
DISK_KINDS = (ErrorKind.DISK_FULL, ErrorKind.READ_ONLY, ErrorKind.LIBRARY, ErrorKind.INDEX_BUSY, ErrorKind.BUG)


@dataclass(frozen=True)
class Notice:
    text: str
    level: str  # info, warning, error
    action: str | None = None  # "settings" or "retry": what the banner's button does


def connection_notice(endpoint_name: str, endpoint_label: str, ready: bool, has_key: bool) -> Notice | None:
    """None: nothing to say (the banner hides once the connection is known to work)."""
    if endpoint_name == "demo":
        return Notice(
            tr(
                "You are on the offline demo: pictures are drawn on this computer, free and instantly. "
                "Add an API key to generate with Google's models."
            ),
            "info",
            "settings",
        )
    if ready and not has_key:
        return Notice(tr("No API key for {0}. Add one to generate.").format(endpoint_label), "warning", "settings")
    return None


def failure_notice(job: Job) -> Notice | None:
    if job.status is not Status.ERROR:
        return None
    kind, message = job.error_kind, job.message
    if kind in SETTINGS_KINDS:
        return Notice(message, "error", "settings")
    if kind in NETWORK_KINDS:
        return Notice(tr("Offline? ") + message, "warning", "retry")
    if kind in WAIT_KINDS:
        return Notice(message, "warning")
    if kind in DISK_KINDS:
        return Notice(message, "error")
    return None
