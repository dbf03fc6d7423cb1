"""Autodiscovered: the demo's static job, named by `jobs:` entries of the configuration file
(docs/concepts/config-as-code.md, "Static jobs")."""

from __future__ import annotations

from django.core.cache import cache

from syncers.schedules.job_registry import sync_job

from .sync import COUNTS_KEY, category_counts


@sync_job("catalog.refresh_category_counts")
def refresh_category_counts() -> dict[str, int]:
    """Recount active products per category into the cache the shop's pages read, e.g. hourly
    as a safety net next to the per-batch hook."""
    counts = category_counts()
    cache.set(COUNTS_KEY, counts, None)
    return counts
