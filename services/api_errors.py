"""What an error answer means: an ApiError with an ErrorKind, chosen here where the answer is parsed.

Pure functions over bytes and dicts (no I/O). The UI and the CLI branch on `ApiError.kind`, never on the words.
How a 429 is read (gemini-api.md, Errors):
- QUOTA: "limit: 0" (or a QuotaFailure with quotaValue 0), credits depleted, billing, a spend cap, or a free tier
  named without any sign of a per-minute or per-day window: waiting does not cure it; not retried.
- DAILY_QUOTA: a per-day quota (quotaId/quotaMetric containing PerDay / per_day, or "per day" in the message):
  passes at the next midnight in America/Los_Angeles (`resume_at`); not retried now.
- RATE_LIMIT: anything else (per-minute limits, RetryInfo): retried, honouring RetryInfo.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone

from services.errors import ApiError
from services.status import ErrorKind

TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
HARD_QUOTA = re.compile(r"limit:\s*0\b|credits? (are|is|have been)? ?depleted|spend(ing)? cap|billing", re.I)
FREE_TIER = re.compile(r"free[ _-]?tier", re.I)
PER_DAY = re.compile(r"per[ _-]?day|daily", re.I)
PER_MINUTE = re.compile(r"per[ _-]?minute", re.I)
SIGNATURE = re.compile(r"thought[ _]signature", re.I)


def next_pacific_midnight(now: float | None = None) -> float:
    """Epoch seconds of the next midnight in America/Los_Angeles, when Google's daily quotas reset."""
    now = time.time() if now is None else now
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("America/Los_Angeles")
    except Exception:  # no tz database (Windows without the tzdata package): US Pacific rules by hand
        zone = _pacific_fallback(now)
    local = datetime.fromtimestamp(now, zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    # Re-attach the zone to the wall-clock midnight so a DST change that day gives the right offset.
    midnight = datetime(midnight.year, midnight.month, midnight.day, tzinfo=zone)
    return midnight.timestamp()


def _pacific_fallback(now: float) -> timezone:
    """UTC-7 from the second Sunday of March to the first Sunday of November (US rules since 2007), else UTC-8."""
    year = datetime.fromtimestamp(now, UTC).year

    def nth_sunday(month: int, n: int) -> datetime:
        first = datetime(year, month, 1, tzinfo=UTC)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))

    dst_start = nth_sunday(3, 2) + timedelta(hours=10)  # 02:00 PST
    dst_end = nth_sunday(11, 1) + timedelta(hours=9)  # 02:00 PDT
    summer = dst_start.timestamp() <= now < dst_end.timestamp()
    return timezone(timedelta(hours=-7 if summer else -8))


def parse_duration(value) -> float | None:
    """`"26s"`, `"38.804097346s"`, `{"seconds": 26}` -> seconds."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*s?\s*", value)
        return float(m.group(1)) if m else None
    if isinstance(value, dict):
        return float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
    return None


def not_json_error(raw: bytes, http_status: int, content_type: str) -> ApiError:
    """What arrived instead of JSON (a web page, text, nothing, half a body), in one sentence."""
    text = raw[:4000].decode("utf-8", errors="replace").strip()
    transient = http_status in TRANSIENT_STATUSES
    if "<html" in text[:500].lower() or "text/html" in content_type:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.I | re.S)
        found = (title or heading).group(1).strip() if (title or heading) else ""
        found = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found))[:120]
        what = f" (“{found}”)" if found else ""
        message = f"The server answered with a web page instead of an API response{what}, HTTP {http_status}."
        if http_status < 400:
            message += " The endpoint URL may point at a website rather than at the API."
    elif not text:
        message = f"The server answered HTTP {http_status} with an empty body."
        if 200 <= http_status < 300:
            message = "The server's answer was empty or cut off before it was complete."
            transient = True
    elif 200 <= http_status < 300 and text[:1] in "{[":
        message = "The server's answer was cut off before it was complete."
        transient = True
    else:
        snippet = re.sub(r"\s+", " ", text)[:160]
        message = f"The server answered HTTP {http_status} with text instead of an API response: “{snippet}”."
    return ApiError(message, http_status=http_status, kind=ErrorKind.BAD_RESPONSE, retryable=transient)


def error_from_response(
    http_status: int,
    raw: bytes,
    content_type: str,
    retry_after_header: str | None,
    model_id: str | None = None,
    replacement: str | None = None,
    *,
    retired: bool = False,
    now: float | None = None,
) -> ApiError:
    """An error answer, read. `retired`: the catalog marks `model_id` as shut down (a 404 then names `replacement`)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None
    retry_after = parse_duration(retry_after_header) if retry_after_header else None
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict | str):
        if body is None:
            error = not_json_error(raw, http_status, content_type)
        else:
            snippet = json.dumps(body)[:160]
            error = ApiError(
                f"The server answered HTTP {http_status} with an unexpected body: {snippet}",
                http_status=http_status,
                kind=ErrorKind.BAD_RESPONSE,
            )
        error.retryable = http_status in TRANSIENT_STATUSES
        error.retry_after = retry_after
        if http_status in (401, 403):
            error.kind = ErrorKind.AUTH
            error.message = f"The endpoint refused the API key (HTTP {http_status}). Check the key in Settings."
        return error
    return error_from_envelope(body["error"], http_status, retry_after, model_id, replacement, retired, now)


def error_from_envelope(
    envelope: dict | str,
    http_status: int,
    retry_after: float | None = None,
    model_id: str | None = None,
    replacement: str | None = None,
    retired: bool = False,
    now: float | None = None,
) -> ApiError:
    """`{"code","message","status","details"}`, as in an error answer or inside a streamed event."""
    if not isinstance(envelope, dict):
        envelope = {"message": envelope}
    status = envelope.get("status")
    server_message = str(envelope.get("message") or "").strip()
    reason = None
    quota_ids: list[str] = []
    zero_limit = False
    for detail in envelope.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("ErrorInfo"):
            reason = detail.get("reason") or reason
        elif kind.endswith("RetryInfo"):
            retry_after = parse_duration(detail.get("retryDelay", detail.get("retry_delay"))) or retry_after
        elif kind.endswith("QuotaFailure"):
            for violation in detail.get("violations") or []:
                if not isinstance(violation, dict):
                    continue
                for name in ("quotaId", "quota_id", "quotaMetric", "quota_metric"):
                    if isinstance(violation.get(name), str):
                        quota_ids.append(violation[name])
                value = violation.get("quotaValue", violation.get("quota_value"))
                zero_limit = zero_limit or str(value) == "0"
    try:
        code = int(envelope.get("code") or http_status)
    except (TypeError, ValueError):
        code = http_status
    facts = QuotaFacts(quota_ids, zero_limit, now)
    return classify(code, status, server_message, reason, retry_after, model_id, replacement, retired, facts)


class QuotaFacts:
    """What the details of a 429 said about the quota that ran out."""

    def __init__(self, quota_ids: list[str] | None = None, zero_limit: bool = False, now: float | None = None):
        self.quota_ids = quota_ids or []
        self.zero_limit = zero_limit
        self.now = now


def classify(
    code: int,
    status: str | None,
    server_message: str,
    reason: str | None,
    retry_after: float | None,
    model_id: str | None,
    replacement: str | None,
    retired: bool = False,
    quota: QuotaFacts | None = None,
) -> ApiError:
    quota = quota or QuotaFacts()
    quoted = f" The server said: “{server_message[:300]}”" if server_message else ""
    lowered = server_message.lower()
    kw = dict(http_status=code, status=status, reason=reason, retry_after=retry_after, server_message=server_message)
    if reason == "API_KEY_INVALID" or "api key not valid" in lowered or "api key expired" in lowered:
        return ApiError(
            "The API key is not valid for this endpoint. Set a valid key in Settings.", kind=ErrorKind.AUTH, **kw
        )
    if code in (401, 403) or status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        extra = " Google reported this key as leaked: create a new one." if "leaked" in lowered else ""
        return ApiError(
            f"The endpoint refused the API key (HTTP {code}).{extra} Check the key and the endpoint's auth style "
            f"in Settings.{quoted}",
            kind=ErrorKind.AUTH,
            **kw,
        )
    if code in (404, 405) or status == "NOT_FOUND":
        if retired and model_id:
            hint = f" Use {replacement} instead." if replacement else ""
            return ApiError(
                f"The model {model_id} has been retired and this endpoint no longer serves it.{hint}",
                kind=ErrorKind.RETIRED_MODEL,
                **kw,
            )
        model = f"The model {model_id} is not served by this endpoint" if model_id else "Not found on this endpoint"
        hint = f"; try {replacement}" if replacement else ""
        return ApiError(f"{model}{hint}.{quoted}", kind=ErrorKind.NOT_FOUND, **kw)
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        return _quota_error(server_message, quoted, quota, kw)
    if code == 400 and SIGNATURE.search(server_message):
        return ApiError(
            "The server refused to continue this conversation: an earlier turn came back without the signature "
            "the model gave it (or with a changed one). Start a new conversation from the last image.",
            kind=ErrorKind.SIGNATURE,
            **kw,
        )
    if code == 400 and status == "FAILED_PRECONDITION":
        return ApiError(
            f"The request cannot be served for this account (billing or region).{quoted}",
            kind=ErrorKind.PRECONDITION,
            **kw,
        )
    if code == 400 and re.search(r"sensitive|responsible ai|safety|prohibited", lowered):
        return ApiError(
            f"The prompt was refused by the server's safety rules.{quoted}", kind=ErrorKind.BLOCKED_PROMPT, **kw
        )
    if code == 400:
        return ApiError(f"The server refused the request as invalid.{quoted}", kind=ErrorKind.BAD_REQUEST, **kw)
    if code == 503 or status == "UNAVAILABLE":
        return ApiError(
            f"The model is overloaded or unavailable right now.{quoted}",
            kind=ErrorKind.OVERLOADED,
            retryable=True,
            **kw,
        )
    if code in TRANSIENT_STATUSES:
        return ApiError(
            f"The server had a temporary problem (HTTP {code}).{quoted}", kind=ErrorKind.SERVER, retryable=True, **kw
        )
    return ApiError(f"The server refused the request (HTTP {code}).{quoted}", kind=ErrorKind.SERVER, **kw)


def _quota_error(server_message: str, quoted: str, quota: QuotaFacts, kw: dict) -> ApiError:
    ids = " ".join(quota.quota_ids)
    per_day = bool(PER_DAY.search(ids) or PER_DAY.search(server_message))
    per_minute = bool(PER_MINUTE.search(ids) or PER_MINUTE.search(server_message))
    free_tier_only = FREE_TIER.search(server_message + " " + ids) and not (per_day or per_minute or kw["retry_after"])
    if quota.zero_limit or HARD_QUOTA.search(server_message) or free_tier_only:
        return ApiError(
            "The quota for this key is used up, and waiting will not help (no quota on this tier, a spend cap, "
            f"or no credits left). Check billing for the key.{quoted}",
            kind=ErrorKind.QUOTA,
            **kw,
        )
    if per_day:
        resume_at = next_pacific_midnight(quota.now)
        when = datetime.fromtimestamp(resume_at, UTC).strftime("%H:%M UTC")
        return ApiError(
            f"The daily quota for this key is used up; it resets at midnight Pacific time ({when}).",
            kind=ErrorKind.DAILY_QUOTA,
            resume_at=resume_at,
            **kw,
        )
    retry_after = kw["retry_after"]
    when = f" Retry in about {retry_after:.0f} s." if retry_after else ""
    return ApiError(f"Too many requests for now (rate limit).{when}", kind=ErrorKind.RATE_LIMIT, retryable=True, **kw)
