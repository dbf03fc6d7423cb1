"""Counters of outgoing requests by connection and status, and rate-limit waits, kept in the
Django cache (Redis when REDIS_URL is set, so every worker adds to the same numbers). Best
effort: counting never fails or slows a request noticeably."""

from __future__ import annotations

import logging

from django.core.cache import cache

log = logging.getLogger(__name__)
PREFIX = "xcoresite:metrics:gateway:"
KEYS_SET = PREFIX + "keys"


def count(name: str, amount: int = 1) -> None:
    key = PREFIX + name
    try:
        try:
            cache.incr(key, amount)
        except ValueError:  # first time: the key does not exist yet
            cache.add(key, amount, timeout=None)
            keys = set(cache.get(KEYS_SET) or ())
            if key not in keys:
                cache.set(KEYS_SET, sorted(keys | {key}), timeout=None)
    except Exception:
        log.debug("metrics: could not count %s", name, exc_info=True)


def request_done(connection: str, status: int | str) -> None:
    count(f"requests|{connection}|{status}")


def rate_limit_waited(connection: str, seconds: float) -> None:
    count(f"ratelimit_waits|{connection}")
    count(f"ratelimit_wait_ms|{connection}", int(seconds * 1000))


def snapshot() -> dict[str, float]:
    keys = cache.get(KEYS_SET) or []
    values = cache.get_many(keys)
    return {k.removeprefix(PREFIX): float(v) for k, v in values.items()}
