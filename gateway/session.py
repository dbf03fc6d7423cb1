"""The only module that speaks HTTP. Every request is bounded (connect/read timeouts, a total
wall-clock deadline, a cap on the decoded body), retried only when idempotent and only for
failures that can pass, and every failure is classified into a gateway error kind."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests

from .errors import (
    AuthError,
    GatewayError,
    PayloadError,
    PermanentError,
    TransientError,
)
from .models import Connection

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class GatewaySession:
    """A requests session bound to one connection's policy. Create with `session_for`."""

    def __init__(self, connection: Connection, *, sleep: Callable[[float], None] = time.sleep):
        self.connection = connection
        self._sleep = sleep
        self._http = requests.Session()
        self._http.max_redirects = MAX_REDIRECTS
        self._http.headers.update({"User-Agent": "xcoresite-gateway/0.1"})
        self._http.headers.update(connection.headers or {})

    def __enter__(self) -> GatewaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url_for(self, path: str) -> str:
        base = self.connection.base_url.rstrip("/") + "/"
        return urljoin(base, path.lstrip("/"))

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document, retrying transient failures with full-jitter backoff."""
        url = self.url_for(path)
        attempt = 0
        while True:
            try:
                body = self._get_bounded(url, params)
                break
            except TransientError as exc:
                attempt += 1
                if attempt > self.connection.max_retries:
                    raise
                wait = _retry_wait(exc, attempt)
                log.info(
                    "gateway %s: %s; retry %d in %.2fs",
                    self.connection,
                    exc,
                    attempt,
                    wait,
                )
                self._sleep(wait)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PayloadError(f"answer is not valid JSON: {exc}", url=url) from None

    def _get_bounded(self, url: str, params: Mapping[str, Any] | None) -> bytes:
        conn = self.connection
        deadline = time.monotonic() + conn.total_timeout
        try:
            resp = self._http.get(
                url,
                params=params,
                timeout=(conn.connect_timeout, conn.read_timeout),
                stream=True,
            )
        except requests.Timeout:
            raise TransientError("timed out waiting for the server", url=url) from None
        except requests.ConnectionError as exc:
            raise TransientError(f"connection failed: {type(exc).__name__}", url=url) from None
        except requests.TooManyRedirects:
            raise PermanentError(f"more than {MAX_REDIRECTS} redirects", url=url) from None
        except requests.RequestException as exc:
            raise PermanentError(f"request refused: {type(exc).__name__}", url=url) from None
        with resp:
            _raise_for_status(resp, url)
            return _read_body(resp, url, deadline, conn.max_body_bytes)


def session_for(connection: Connection) -> GatewaySession:
    """The one way to talk to a connection's API."""
    return GatewaySession(connection)


def _raise_for_status(resp: requests.Response, url: str) -> None:
    status = resp.status_code
    if status < 400:
        return
    reason = f"HTTP {status} {resp.reason or ''}".strip()
    if status in (401, 403):
        raise AuthError(reason, status=status, url=url)
    if status in RETRYABLE_STATUSES or status >= 500:
        retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
        raise TransientError(reason, status=status, url=url, retry_after=retry_after)
    raise PermanentError(reason, status=status, url=url)


def _read_body(resp: requests.Response, url: str, deadline: float, cap: int) -> bytes:
    # read1 returns whatever has arrived, so the deadline is checked even when a server
    # drips one byte at a time (each byte would otherwise reset the read timeout).
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := resp.raw.read1(CHUNK, decode_content=True):
            size += len(chunk)
            if size > cap:
                raise PayloadError(f"answer larger than {cap} bytes (decoded)", url=url)
            if time.monotonic() > deadline:
                raise TransientError("total deadline exceeded while reading", url=url)
            parts.append(chunk)
    except GatewayError:
        raise
    except Exception as exc:  # urllib3/socket errors mid-body
        raise TransientError(f"connection broke while reading: {type(exc).__name__}", url=url) from None
    return b"".join(parts)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _retry_wait(exc: TransientError, attempt: int) -> float:
    if exc.retry_after is not None:
        if exc.retry_after > RETRY_AFTER_CAP:
            raise exc  # a long wait is the caller's to schedule, not a sleeping worker's
        return exc.retry_after
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
