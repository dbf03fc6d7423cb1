"""Lease locks: one owner (a random token) at a time, a TTL, renewal and release by the owner
only. Redis when REDIS_URL is set, otherwise a database row (which works across processes on
SQLite and across machines on PostgreSQL). The lease keeps two runs from working at once;
correctness under a paused or partitioned holder rests on the fence (see fence.py)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from functools import cache
from typing import Protocol, cast

from django.conf import settings
from django.db import connection, connections

log = logging.getLogger(__name__)


class LeaseBackend(Protocol):
    def acquire(self, name: str, token: str, ttl: float) -> bool: ...
    def renew(self, name: str, token: str, ttl: float) -> bool: ...
    def release(self, name: str, token: str) -> bool: ...
    def holder(self, name: str) -> str | None: ...


class RedisLeases:
    # Compare-and-act scripts: renew/release only when the caller still owns the key.
    _RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
    )

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._prefix = prefix
        self._renew = self._redis.register_script(self._RENEW)
        self._release = self._redis.register_script(self._RELEASE)

    def _key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def acquire(self, name: str, token: str, ttl: float) -> bool:
        return bool(self._redis.set(self._key(name), token, nx=True, px=int(ttl * 1000)))

    def renew(self, name: str, token: str, ttl: float) -> bool:
        return bool(self._renew(keys=[self._key(name)], args=[token, int(ttl * 1000)]))

    def release(self, name: str, token: str) -> bool:
        return bool(self._release(keys=[self._key(name)], args=[token]))

    def holder(self, name: str) -> str | None:
        value = cast("bytes | None", self._redis.get(self._key(name)))  # no decode_responses
        return value.decode() if value else None


class DatabaseLeases:
    """One statement per operation, each atomic on its own (autocommit): an upsert that only
    overwrites an expired row is a compare-and-set on both SQLite and PostgreSQL."""

    _ACQUIRE = (
        "INSERT INTO syncers_lease (name, token, expires_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at "
        "WHERE syncers_lease.expires_at < %s RETURNING token"
    )

    def acquire(self, name: str, token: str, ttl: float) -> bool:
        now = time.time()
        with connection.cursor() as cur:
            cur.execute(self._ACQUIRE, [name, token, now + ttl, now])
            row = cur.fetchone()
        return bool(row and row[0] == token)

    def renew(self, name: str, token: str, ttl: float) -> bool:
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE syncers_lease SET expires_at = %s WHERE name = %s AND token = %s AND expires_at >= %s",
                [time.time() + ttl, name, token, time.time()],
            )
            return bool(cur.rowcount == 1)

    def release(self, name: str, token: str) -> bool:
        with connection.cursor() as cur:
            cur.execute(
                "DELETE FROM syncers_lease WHERE name = %s AND token = %s",
                [name, token],
            )
            return bool(cur.rowcount == 1)

    def holder(self, name: str) -> str | None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT token FROM syncers_lease WHERE name = %s AND expires_at >= %s",
                [name, time.time()],
            )
            row = cur.fetchone()
        return row[0] if row else None


@cache
def leases() -> LeaseBackend:
    if settings.REDIS_URL:
        # Keyed by database name, so a test database and a dev database never share locks.
        prefix = f"xcoresite:{connections['default'].settings_dict['NAME']}:lease:"
        return RedisLeases(settings.REDIS_URL, prefix)
    return DatabaseLeases()


def client_lease_name(client_id: int) -> str:
    return f"sync-client:{client_id}"


def new_token() -> str:
    return uuid.uuid4().hex


class Heartbeat:
    """Renews a held lease every ttl/3 from a background thread. `lost` turns true when the
    lease could not be renewed for a whole TTL (taken over, or the store unreachable)."""

    def __init__(self, name: str, token: str, ttl: float) -> None:
        self.name, self.token, self.ttl = name, token, ttl
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-heartbeat:{name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.ttl)

    def _beat(self) -> None:
        last_ok = time.monotonic()
        try:
            while not self._stop.wait(self.ttl / 3):
                try:
                    if leases().renew(self.name, self.token, self.ttl):
                        last_ok = time.monotonic()
                        continue
                    log.warning("lease %s was taken over; stopping this run", self.name)
                    self.lost = True
                    return
                except Exception:
                    log.exception("lease %s: renewal failed", self.name)
                    if time.monotonic() - last_ok > self.ttl:
                        self.lost = True
                        return
        finally:
            connection.close()  # this thread's own database connection
