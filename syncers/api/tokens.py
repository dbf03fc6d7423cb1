"""Create, revoke and check API tokens (the admin, `sync_api_token` and the API call these)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from django.utils import timezone

from syncers.models import ApiToken

TOKEN_PREFIX = "xcs_"
DISPLAY_CHARS = 12  # "xcs_" and 8 random characters: enough to tell tokens apart, useless to guess


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: Any, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token itself, which is never stored
    and cannot be shown again."""
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name (what it is for)")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("the expiry must be in the future")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=raw[:DISPLAY_CHARS],
        key_hash=token_digest(raw),
        expires_at=expires_at,
    )
    return token, raw


def api_token_revoke(*, token: ApiToken, who: str) -> ApiToken:
    """Refuse the token from now on (the row stays, for the record). Idempotent."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=who[:150]
    )
    token.refresh_from_db()
    return token


def api_token_check(raw: str) -> ApiToken | None:
    """The usable token matching `raw` (its user loaded), or None. The lookup is by digest;
    the digests are then compared in constant time."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = token_digest(raw)
    token = ApiToken.objects.select_related("user").filter(key_hash=digest).first()
    if token is None or not hmac.compare_digest(token.key_hash, digest) or not token.is_usable:
        return None
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return token
