"""Notifications: sent on state changes only (see pause.Event), per level, to the recipients
in settings, in NotificationRoute rows (global or per client) and on the client, through
pluggable channels; each attempt is recorded.

A channel is one class with `name` and `send(subject, body, recipients) -> list[(recipient, error)]`;
list it in SYNC_NOTIFY_CHANNELS to use another one."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from syncers.alerts.pause import Event
from syncers.models import Notification, NotificationRoute, SyncClient, SyncRun
from syncers.wording import listed

log = logging.getLogger(__name__)
LEVELS = ("notice", "warning", "error")


class Channel(Protocol):
    name: str

    def recipients(self, client: SyncClient, level: str) -> list[str]: ...
    def send(self, subject: str, body: str, recipients: list[str]) -> dict[str, str]: ...


def _at_or_above(level: str, minimum: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(minimum)


def routed(channel: str, client: SyncClient, level: str) -> list[str]:
    """Enabled routes of `channel` for every client or this one that take `level`."""
    routes = NotificationRoute.objects.filter(
        Q(client__isnull=True) | Q(client=client), channel=channel, enabled=True
    )
    found = [route.resolve() for route in routes if _at_or_above(level, route.min_level)]
    missing = [r.target_env for r in routes if not r.resolve()]
    if missing:
        log.warning("%s not set", listed("notification route variable", sorted(set(missing))))
    return [target for target in found if target]


class EmailChannel:
    """Django's mail (EMAIL_URL). Settings and route recipients per level; the client's own
    `notify_emails` get warnings and up."""

    name = "email"

    def recipients(self, client: SyncClient, level: str) -> list[str]:
        configured = settings.SYNC_NOTIFY_EMAILS
        found = [addr for lvl, addrs in configured.items() if _at_or_above(level, lvl) for addr in addrs]
        if _at_or_above(level, "warning"):
            found += list(client.notify_emails or [])
        return sorted(set(found + routed(self.name, client, level)))

    def send(self, subject: str, body: str, recipients: list[str]) -> dict[str, str]:
        errors = {}
        for recipient in recipients:
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient])
            except Exception as exc:  # one bad address must not stop the others
                errors[recipient] = f"{type(exc).__name__}: {exc}"[:500]
        return errors


def channels() -> list[Channel]:
    return [import_string(path)() for path in settings.SYNC_NOTIFY_CHANNELS]


def notify(*, client: SyncClient, run: SyncRun | None, events: list[Event]) -> list[Notification]:
    """Send each event once per throttle window per client, to every channel's recipients."""
    sent: list[Notification] = []
    window = timezone.now() - timedelta(seconds=settings.SYNC_NOTIFY_THROTTLE)
    for event in events:
        if Notification.objects.filter(client=client, event=event.name, created_at__gte=window).exists():
            continue  # told already: a client failing 100 times sends one message, not 100
        subject = f"[xcoresite] {event.level}: {client.name} — {event.name.replace('_', ' ')}"
        body = _body(client, run, event)
        for channel in channels():
            recipients = channel.recipients(client, event.level)
            errors = channel.send(subject, body, recipients) if recipients else {}
            for recipient in recipients:
                sent.append(
                    Notification.objects.create(
                        client=client,
                        run=run,
                        event=event.name,
                        level=event.level,
                        channel=channel.name,
                        recipient=_shown(recipient),
                        subject=subject[:300],
                        body=body,
                        delivered=recipient not in errors,
                        outcome=errors.get(recipient, ""),
                    )
                )
    return sent


def _shown(recipient: str) -> str:
    """What the record keeps of a recipient: a webhook URL's path and query often hold its
    token (Slack, Teams), so only its scheme and host are kept."""
    parts = urlsplit(recipient)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/…"
    return recipient


def _body(client: SyncClient, run: SyncRun | None, event: Event) -> str:
    client.refresh_from_db()
    lines = [
        f"Sync client: {client.name}",
        f"Event: {event.name} ({event.level})",
        f"What happened: {event.text}",
        f"State now: {client.get_state_display()}"
        + (f" until {client.paused_until:%Y-%m-%d %H:%M:%S %Z}" if client.paused_until else ""),
    ]
    if run is not None:
        lines.append(
            f"Run: #{run.pk} {run.status}, fetched {run.fetched}, created {run.created}, "
            f"updated {run.updated}, unchanged {run.unchanged}, failed {run.failed}"
        )
    return "\n".join(lines) + "\n"


class WebhookChannel:
    """JSON POST through the gateway (same network policy and SSRF guard as any API) to each
    URL in SYNC_NOTIFY_WEBHOOKS and in webhook routes. SYNC_NOTIFY_WEBHOOK_FORMAT=slack sends
    Slack's {"text": ...}."""

    name = "webhook"

    def recipients(self, client: SyncClient, level: str) -> list[str]:
        configured = [url for url, minimum in settings.SYNC_NOTIFY_WEBHOOKS if _at_or_above(level, minimum)]
        return list(dict.fromkeys(configured + routed(self.name, client, level)))

    def send(self, subject: str, body: str, recipients: list[str]) -> dict[str, str]:
        from gateway.errors import GatewayError
        from gateway.models import Connection
        from gateway.session import session_for

        if settings.SYNC_NOTIFY_WEBHOOK_FORMAT == "slack":
            payload: dict[str, object] = {"text": f"*{subject}*\n{body}"}
        else:
            payload = {"subject": subject, "text": body}
        errors = {}
        for url in recipients:
            hook = Connection(name="notification-webhook", base_url=url, connect_timeout=5, read_timeout=10)
            try:
                with session_for(hook, retry=False) as session:
                    session.post_json(url, payload)
            except GatewayError as exc:
                errors[url] = f"{type(exc).__name__}: {exc}"[:500]
        return errors
