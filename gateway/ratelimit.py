"""One rate limit per connection, shared by every worker process and machine: a token bucket
kept as GCRA (one number per connection, the "theoretical arrival time" of the next request).
A request reserves the next slot and sleeps until it; that keeps the achieved rate at the
setting without polling. A wait longer than GATEWAY_RATE_LIMIT_MAX_WAIT reserves nothing and
raises TransientError with retry_after, so the caller can pause instead of a worker sleeping.

Redis (a Lua script, atomic, on Redis' own clock) when settings.REDIS_URL is set; otherwise a
database row changed by one conditional UPDATE, atomic on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Protocol

from django.conf import settings
from django.db import connection as db
from django.db import connections

from . import metrics
from .errors import TransientError
from .models import Connection


class Limiter(Protocol):
    def reserve(self, key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
        """(reserved, seconds until the slot): reserved is False when it is beyond max_wait."""
        ...


class RedisLimiter:
    _SCRIPT = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tat < now then tat = now end
    local new_tat = tat + interval
    local wait = new_tat - burst * interval - now
    if wait > max_wait then return {0, string.format('%.6f', wait)} end
    redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
    return {1, string.format('%.6f', wait)}
    """

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self._redis.register_script(self._SCRIPT)
        self._prefix = prefix

    def reserve(self, key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
        ok, wait = self._script(keys=[self._prefix + key], args=[interval, burst, max_wait])
        return bool(ok), max(0.0, float(wait))


class DatabaseLimiter:
    """Autocommit statements: the UPDATE's WHERE is the compare, its SET the swap."""

    def reserve(self, key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
        greatest = "GREATEST" if db.vendor in ("postgresql", "mysql") else "MAX"
        slot = f"{greatest}(tat, %s) + %s"
        sql = (
            f"UPDATE gateway_ratebucket SET tat = {slot} "
            f"WHERE name = %s AND {slot} - %s - %s <= %s RETURNING tat"
        )
        wait = 0.0
        for _ in range(4):
            now = time.time()
            with db.cursor() as cur:
                cur.execute(sql, [now, interval, key, now, interval, burst * interval, now, max_wait])
                row = cur.fetchone()
                if row is not None:
                    return True, max(0.0, row[0] - burst * interval - now)
                cur.execute("SELECT tat FROM gateway_ratebucket WHERE name = %s", [key])
                current = cur.fetchone()
                if current is None:
                    cur.execute(
                        "INSERT INTO gateway_ratebucket (name, tat) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                        [key],
                    )
                    continue
                wait = max(current[0], now) + interval - burst * interval - now
                if wait > max_wait:
                    return False, wait
                # Within reach after all: another process created the row between the UPDATE
                # and the SELECT (the UPDATE found none). Reserve again rather than refuse.
        return False, max(wait, 0.0)  # lost every round to other processes: a transient refusal


@cache
def limiter() -> Limiter:
    if settings.REDIS_URL:
        # Keyed by database name, so a test database and a dev database never share buckets.
        prefix = f"xcoresite:{connections['default'].settings_dict['NAME']}:ratelimit:"
        return RedisLimiter(settings.REDIS_URL, prefix)
    return DatabaseLimiter()


def acquire(connection: Connection, *, sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait for this connection's next request slot; returns the seconds waited."""
    rate = connection.rate_limit
    if not rate or rate <= 0:
        return 0.0
    key = f"connection:{connection.pk or connection.name}"
    max_wait = settings.GATEWAY_RATE_LIMIT_MAX_WAIT
    try:
        reserved, wait = limiter().reserve(key, 1.0 / rate, max(1, connection.rate_burst), max_wait)
    except Exception as exc:  # the shared budget is unknowable: do not send blind
        raise TransientError(f"rate limiter unavailable: {type(exc).__name__}") from None
    if not reserved:
        raise TransientError(
            f"rate limit of {rate:g}/s: the next free slot is {wait:.1f}s away", retry_after=wait
        )
    if wait > 0:
        metrics.rate_limit_waited(connection.name, wait)
        sleep(wait)
    return wait
