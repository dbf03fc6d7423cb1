"""HTTP endpoints outside the admin."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.debug import sensitive_variables
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from syncers.ops.metrics import SyncCollector


def as_bytes(text: str) -> bytes:
    """Header values arrive as latin-1 decoded text (WSGI); any code point must compare, so
    compare bytes: hmac.compare_digest refuses non-ASCII str with a TypeError."""
    return text.encode("utf-8", "surrogatepass")


@sensitive_variables("token", "expected")
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; off unless SYNC_METRICS_ENABLED, optionally behind a bearer token."""
    if not settings.SYNC_METRICS_ENABLED:
        raise Http404("metrics are disabled (SYNC_METRICS_ENABLED)")
    token = settings.SYNC_METRICS_TOKEN
    expected = as_bytes(f"Bearer {token}")
    if token and not hmac.compare_digest(as_bytes(request.headers.get("Authorization", "")), expected):
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    registry = CollectorRegistry()
    registry.register(SyncCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
