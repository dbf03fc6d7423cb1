"""POST /hooks/<client>/: records pushed by a third party, signed with the client's secret.

Checked in this order, each with a clear 4xx and nothing stored: unknown client or webhook
off (404), body too large (413), bad or missing signature (401), not JSON or not records
(400), client disabled (409). Then the records join the pipeline (see pipeline.push)."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import SyncClient, SyncRun
from .pipeline.push import stage_records

SIGNATURE_HEADER = "X-Xcoresite-Signature"


def sign(secret: str, body: bytes) -> str:
    """The header value a sender computes: sha256=<hex HMAC of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # authenticated by the HMAC signature, not a browser session
@require_POST
def receive(request: HttpRequest, name: str) -> JsonResponse:
    client = SyncClient.objects.select_related("connection").filter(name=name).first()
    if client is None or not client.hook_secret_ciphertext:
        return _error(404, "no webhook for this client")
    limit = settings.SYNC_HOOK_MAX_BYTES
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return _error(413, f"body larger than {limit} bytes")
    body = request.body
    if len(body) > limit:
        return _error(413, f"body larger than {limit} bytes")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given or not hmac.compare_digest(given, sign(client.reveal_hook_secret(), body)):
        return _error(401, f"missing or bad {SIGNATURE_HEADER} (sha256=<hex HMAC-SHA256 of the body>)")
    try:
        data = json.loads(body)
    except ValueError as exc:
        return _error(400, f"body is not JSON: {exc}")
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list) or not records:
        return _error(400, 'send a non-empty JSON list of records, or {"records": [...]}')
    if client.state == SyncClient.State.DISABLED:
        return _error(409, "client is disabled")
    who = f"webhook from {request.META.get('REMOTE_ADDR', '?')}"
    run = stage_records(client=client, records=records, trigger=SyncRun.Trigger.WEBHOOK, who=who)
    return JsonResponse({"run": run.pk, "records": len(records)}, status=202)
