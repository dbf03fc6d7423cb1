"""Which statuses are which error kind, and when (and how long) to wait before trying again:
exponential backoff with full jitter, Retry-After honoured up to a cap, a per-request retry
count and a per-session retry budget, so a failing API is not hammered by a long run."""

from __future__ import annotations

import email.utils
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from .errors import AuthError, GatewayError, PermanentError, TransientError

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


def error_for_status(status: int, reason: str, retry_after: str | None, url: str) -> GatewayError | None:
    """The classified error for an HTTP status (None below 400)."""
    if status < 400:
        return None
    text = f"HTTP {status} {reason}".strip()
    if status in (401, 403):
        return AuthError(text, status=status, url=url)
    if status in RETRYABLE_STATUSES or status >= 500:
        return TransientError(
            text,
            status=status,
            url=url,
            retry_after=parse_retry_after(retry_after),
            retryable=status in RETRYABLE_STATUSES,
        )
    return PermanentError(text, status=status, url=url)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryPolicy:
    """One per session. `wait_before(exc, attempt)` returns the pause before retry `attempt`
    (1-based) or re-raises `exc` when the request must fail now."""

    def __init__(
        self,
        *,
        max_retries: int,
        budget: int,
        retry_after_cap: float,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.max_retries = max_retries
        self.budget = budget
        self.retry_after_cap = retry_after_cap
        self.jitter = jitter
        self.spent = 0

    def wait_before(self, exc: TransientError, attempt: int) -> float:
        if not exc.retryable or attempt > self.max_retries:
            raise exc
        if exc.retry_after is not None and exc.retry_after > self.retry_after_cap:
            # A long pause is the caller's to schedule (the client pauses), not a worker's sleep.
            raise exc
        if self.spent >= self.budget:
            log.info("retry budget of %d spent for this session; not retrying", self.budget)
            raise exc
        self.spent += 1
        if exc.retry_after is not None:
            return exc.retry_after
        return self.jitter(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
