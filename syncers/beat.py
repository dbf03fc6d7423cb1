"""Kept for existing settings: `celery beat -S syncers.beat:SyncScheduler` and
CELERY_BEAT_SCHEDULER = "syncers.beat:SyncScheduler" keep working. The scheduler lives in
syncers.schedules.beat (issue 17); name that path in new settings."""

from syncers.schedules.beat import SyncScheduler

__all__ = ["SyncScheduler"]
