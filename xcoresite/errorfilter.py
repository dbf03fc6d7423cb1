"""What error reports may show. Django's filter hides settings whose *name* sounds secret
(KEY, TOKEN, PASS…); ours also hides secrets inside values whose name does not: the password
in `CELERY_BROKER_URL=redis://:pw@host` or `REDIS_URL`, and webhook URLs, whose path is the
token (`https://hooks.slack.com/services/T0/B0/secret`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.views.debug import SafeExceptionReporterFilter

_URL_WITH_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@", re.I)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s,;>]+", re.I)
_WEBHOOK_SETTING = re.compile("WEBHOOK|HOOK_URL|DSN", re.I)
MASK = SafeExceptionReporterFilter.cleansed_substitute


def mask_credentials(text: str) -> str:
    """`redis://user:pw@host/1` → `redis://********************@host/1`."""
    return _URL_WITH_CREDENTIALS.sub(lambda m: f"{m['scheme']}{MASK}@", text)


def mask_url_paths(text: str) -> str:
    """Keep only scheme and host of every URL in `text`: a webhook URL's path is its secret."""

    def keep_origin(match: re.Match[str]) -> str:
        parts = urlsplit(match.group(0))
        host = parts.hostname or ""
        return urlunsplit((parts.scheme, host, "/" + MASK if parts.path.strip("/") else "", "", ""))

    return _URL.sub(keep_origin, text)


class SecretMaskingFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        webhook = isinstance(key, str) and bool(_WEBHOOK_SETTING.search(key))
        return _mask_values(cleansed, webhook=webhook)


def _mask_values(value: Any, *, webhook: bool) -> Any:
    if isinstance(value, str):
        value = mask_credentials(value)
        return mask_url_paths(value) if webhook else value
    if isinstance(value, dict):
        return {k: _mask_values(v, webhook=webhook) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_values(v, webhook=webhook) for v in value)
    return value
