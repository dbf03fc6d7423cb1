"""POST /hooks/<client>/: records pushed by a third party, signed with the client's secret.

The sender signs `<timestamp>.<raw body>` with HMAC-SHA256 and sends the timestamp (Unix
seconds) in X-Xcoresite-Timestamp and `sha256=<hex>` in X-Xcoresite-Signature. Checked in this
order, each with a clear 4xx and nothing stored: bad Content-Length (400), body too large (413),
missing or malformed timestamp, timestamp further than SYNC_HOOK_TOLERANCE from our clock, and
unknown client, webhook off or bad signature (all 401, one answer: whether a client exists is
not told), a delivery already accepted (409), not JSON or not records (400), client disabled
(409). A secret no configured key decrypts answers 503 (logged). Then the records join the
pipeline (see pipeline.push)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from gateway import crypto
from syncers.models import HookDelivery, SyncClient, SyncRun
from syncers.pipeline.push import stage_records
from syncers.views import as_bytes

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Xcoresite-Signature"
TIMESTAMP_HEADER = "X-Xcoresite-Timestamp"
UNAUTHORIZED = (
    f"missing or bad {SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of '<{TIMESTAMP_HEADER}>.<body>'> "
    "with this client's webhook secret"
)


@sensitive_variables("secret")
def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The header value a sender computes: sha256=<hex HMAC of "<timestamp>.<raw body>">."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers of a delivery signed now (or at `timestamp`): what a sender sends."""
    at = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: sign(secret, body, at)}


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _content_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _fresh_timestamp(request: HttpRequest) -> tuple[str, str | None]:
    """The timestamp header as sent, and why it is refused (None: fresh)."""
    raw = request.headers.get(TIMESTAMP_HEADER, "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        return raw, f"missing or malformed {TIMESTAMP_HEADER} (Unix seconds)"
    tolerance = settings.SYNC_HOOK_TOLERANCE
    if abs(time.time() - int(raw)) > tolerance:
        return raw, f"{TIMESTAMP_HEADER} is more than {tolerance} s away from our clock"
    return raw, None


@sensitive_variables("secret", "expected", "given")
def _signed_by(client: SyncClient | None, body: bytes, timestamp: str, given: str) -> bool:
    """Constant work whether or not the client exists, so the answer's timing does not tell."""
    secret = client.reveal_hook_secret() if client is not None and client.hook_secret_ciphertext else ""
    expected = sign(secret or "no client", body, timestamp)
    return hmac.compare_digest(as_bytes(given), as_bytes(expected)) and bool(secret)


def _remember(client: SyncClient, signature: str) -> bool:
    """Record the delivery; False when the same signed delivery was accepted before."""
    now = timezone.now()
    HookDelivery.objects.filter(
        received_at__lt=now - timedelta(seconds=2 * settings.SYNC_HOOK_TOLERANCE)
    ).delete()
    try:
        with transaction.atomic():
            HookDelivery.objects.create(client=client, signature=signature[-64:], received_at=now)
    except IntegrityError:
        return False
    return True


@csrf_exempt  # authenticated by the HMAC signature, not a browser session
@require_POST
def receive(request: HttpRequest, name: str) -> JsonResponse:
    limit = settings.SYNC_HOOK_MAX_BYTES
    length = _content_length(request)
    if length is None:
        return _error(400, "Content-Length must be a number of bytes")
    if length > limit:
        return _error(413, f"body larger than {limit} bytes")
    body = request.body
    if len(body) > limit:
        return _error(413, f"body larger than {limit} bytes")
    timestamp, stale = _fresh_timestamp(request)
    if stale:
        return _error(401, stale)
    client = SyncClient.objects.select_related("connection").filter(name=name).first()
    given = request.headers.get(SIGNATURE_HEADER, "")
    try:
        signed = _signed_by(client, body, timestamp, given)
    except crypto.InvalidToken:
        logger.error(
            "webhook of client %s: its secret cannot be decrypted with GATEWAY_ENCRYPTION_KEYS "
            "(key dropped before rotate_keys?); set a new one with sync_hook --new-secret",
            name,
        )
        return _error(503, "this webhook cannot check signatures right now")
    if not signed or client is None:  # signed implies a client (its secret signed it)
        return _error(401, UNAUTHORIZED)
    with transaction.atomic():
        if not _remember(client, given):
            return _error(409, "this delivery was accepted before (same timestamp and signature)")
        response = _accept(request, client, body)
        if response.status_code != 202:
            transaction.set_rollback(True)  # a refused delivery may be sent again once fixed
    return response


def _accept(request: HttpRequest, client: SyncClient, body: bytes) -> JsonResponse:
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
