"""The cache service: values and locks under the plugin's own namespace, each call checked
against `cache.<key>` (read or write), so `cache.sync:*` grants the keys starting "sync:".

Locks are the pipeline's lease backends (syncers.pipeline.lease: Redis `SET NX PX` with
owner-checked Lua scripts, or an upsert on the lease table): acquiring is one atomic
operation — never check-then-set — and only the holder's token releases or renews.
Values live in Redis when REDIS_URL is set, otherwise in the PluginCacheEntry table (the
local-memory cache would give each process its own)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.db.models import Q

from syncers.models.plugins import PluginCacheEntry
from syncers.pipeline.lease import leases, new_token
from syncers.plugins.errors import PluginError
from syncers.plugins.grants import require

MAX_KEY = 150


@dataclass
class CacheLock:
    """A held lock. Keep `token` (e.g. in a row) to release it from another process."""

    service: CacheService
    key: str
    token: str
    ttl: float

    def release(self) -> bool:
        return self.service.release_lock(self.key, self.token)

    def renew(self) -> bool:
        return self.service.renew_lock(self.key, self.token, self.ttl)


class CacheService:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def _name(self, key: str, action: str) -> str:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise PluginError(f"cache key must be a non-empty string of at most {MAX_KEY} characters")
        require(self.plugin, f"cache.{key}", action)
        return f"plugin:{self.plugin}:{key}"

    # --- values -------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        name = self._name(key, "read")
        if settings.REDIS_URL:
            return caches["default"].get(_redis_key(name), default)
        entry = PluginCacheEntry.objects.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=time.time()), key=name
        ).first()
        return entry.value if entry else default

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-able value, for `ttl` seconds or until deleted."""
        name = self._name(key, "write")
        if settings.REDIS_URL:
            caches["default"].set(_redis_key(name), value, timeout=ttl)
            return
        expires = time.time() + ttl if ttl else None
        PluginCacheEntry.objects.update_or_create(key=name, defaults={"value": value, "expires_at": expires})

    def delete(self, key: str) -> None:
        name = self._name(key, "write")
        if settings.REDIS_URL:
            caches["default"].delete(_redis_key(name))
        else:
            PluginCacheEntry.objects.filter(key=name).delete()

    # --- locks --------------------------------------------------------------------------

    def lock(self, key: str, ttl: float) -> CacheLock | None:
        """Take the lock in one atomic step; None when someone else holds it."""
        if ttl <= 0:
            raise PluginError("a lock needs a positive TTL")
        name, token = self._name(key, "write"), new_token()
        if not leases().acquire(name, token, ttl):
            return None
        return CacheLock(self, key, token, ttl)

    def renew_lock(self, key: str, token: str, ttl: float) -> bool:
        return leases().renew(self._name(key, "write"), token, ttl)

    def release_lock(self, key: str, token: str) -> bool:
        """Release only if `token` still holds it (a lock that expired and was retaken is not ours)."""
        return leases().release(self._name(key, "write"), token)

    def lock_holder(self, key: str) -> str | None:
        return leases().holder(self._name(key, "read"))

    def clear_lock(self, key: str) -> bool:
        """Break the lock whoever holds it (on_stop). Still a compare-and-delete on the
        current holder's token, so a lock taken a moment later survives."""
        name = self._name(key, "write")
        holder = leases().holder(name)
        return leases().release(name, holder) if holder else False


def _redis_key(name: str) -> str:
    # Keyed by database name like the leases, so test and dev databases never share values.
    return f"xcoresite:{connections['default'].settings_dict['NAME']}:{name}"
