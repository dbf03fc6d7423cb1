from __future__ import annotations

from django_celery_beat.models import PeriodicTask


class StaticJob(PeriodicTask):
    """A static job's beat entry (`job:<id>`), seen through the admin's read-only listing;
    the configuration file (`jobs:`, sync_apply) is its source of truth."""

    class Meta:
        proxy = True
        verbose_name = "static job"
        verbose_name_plural = "static jobs"
