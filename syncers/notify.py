"""Kept for existing settings: SYNC_NOTIFY_CHANNELS entries "syncers.notify.EmailChannel" and
"syncers.notify.WebhookChannel" keep working. The channels live in syncers.alerts.notify
(issue 17); name that path in new settings."""

from syncers.alerts.notify import Channel, EmailChannel, WebhookChannel

__all__ = ["Channel", "EmailChannel", "WebhookChannel"]
