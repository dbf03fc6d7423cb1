"""The demo's per-batch hooks (registered by catalog/sync_handlers.py, named in the demo
client's destination). A team writes its own the same way."""

from __future__ import annotations

from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count

from syncers.destinations.hooks import HookContext, Row, WriteResult, after_write, before_write

from .models import Category

COUNTS_KEY = "catalog:active_products_by_category"
# Demo of a failing hook: while this cache counter is above zero, each after_write call takes
# one off and raises, so its batch rolls back and is loaded again (docs/concepts/destinations.md, "Hooks").
FAIL_KEY = "catalog:fail_after_write"


class HookFailed(RuntimeError):
    """The demo after_write hook was told to fail."""


def category_counts() -> dict[str, int]:
    """Active products per category code, read from the database."""
    rows = (
        Category.objects.filter(products__is_active=True)
        .annotate(n=Count("products"))
        .values_list("code", "n")
    )
    return dict(rows)


def cached_category_counts() -> dict[str, int]:
    """What the shop's pages would read: the cached counts (computed when missing)."""
    counts = cache.get(COUNTS_KEY)
    if counts is None:
        counts = category_counts()
        cache.set(COUNTS_KEY, counts, None)
    return counts


@before_write
def reject_free_products(ctx: HookContext, rows: list[Row]) -> list[Row]:
    """The shop sells nothing for free: such a record is kept as a failed record."""
    for row in rows:
        if row.get("price") is not None and row["price"] <= Decimal("0"):
            ctx.reject(row, "price must be above zero")
    return rows


@after_write
def refresh_category_counts(ctx: HookContext, result: WriteResult) -> None:
    """Refresh the cached counts once the batch has committed (a rolled-back batch changes
    nothing, so its counts are not cached)."""
    if cache.get(FAIL_KEY, 0) > 0:
        cache.decr(FAIL_KEY)
        raise HookFailed("after_write told to fail (demo)")
    if result.created or result.updated or result.deleted:
        transaction.on_commit(lambda: cache.set(COUNTS_KEY, category_counts(), None))
