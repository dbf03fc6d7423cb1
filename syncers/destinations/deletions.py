"""Deletions after a complete listing, and the mass-deletion guard.

Only a run that read the whole listing from its start to its end (not incremental, not
resumed from a checkpoint, not stopped by max pages or a cancel, no failed page) may delete,
and only while it still holds its lease: this runs when the run is finalised, inside that
transaction, with the run row locked and the fence checked. Keys of the client's live rows
that the run did not see are handled by `on_missing` (keep, soft, delete).

The guard: an empty listing while the client has rows, or more missing than
`max_delete_fraction` of the live rows (or than `max_delete_rows`), deletes nothing. The
keys are kept in a PendingDeletion, the run ends partial with the reason, the client shows
"deletions waiting for approval", and an operator approves (exactly those keys are applied)
or rejects."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.utils import timezone

from syncers.models import PendingDeletion, SyncBatch, SyncClient, SyncedRecord, SyncRun
from syncers.wording import counted, deletions_waiting_text

from .config import Destination, parse_destination
from .hooks import HookContext, WriteResult, get_hook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeletionOutcome:
    deleted: int = 0
    held: PendingDeletion | None = None
    refused: str = ""  # why some rows could not be deleted (they stay, live in the ledger)


@dataclass(frozen=True)
class Applied:
    """What apply_deletions did: the keys whose rows it deleted (or soft-deleted), and those
    the model's own delete rules refused (a protected or restricted foreign key), with why."""

    deleted: list[str]
    refused: list[str]
    reason: str = ""

    def refused_text(self) -> str:
        if not self.refused:
            return ""
        shown = ", ".join(self.refused[:10]) + (", ..." if len(self.refused) > 10 else "")
        stay = "stays" if len(self.refused) == 1 else "stay"
        return f"{counted(len(self.refused), 'row')} could not be deleted and {stay} ({shown}): {self.reason}"


def client_destination(client: SyncClient) -> Destination | None:
    return parse_destination(client.destination) if client.destination else None


def deletions_after_run(run: SyncRun) -> DeletionOutcome:
    """Apply (or hold) the deletions a complete run found. Call inside the transaction that
    finalises `run`, with its row locked."""
    client = run.client
    dest = client_destination(client)
    if dest is None or dest.on_missing == "keep" or not run.listing_complete or run.error:
        return DeletionOutcome()
    live_rows = SyncedRecord.objects.filter(client=client, missing_since__isnull=True).count()
    missing = unseen_live_keys(client.pk, run.pk)
    # A newer complete run decides afresh: what an older one held back is no longer current.
    client.pending_deletions.filter(state=PendingDeletion.State.WAITING).update(
        state=PendingDeletion.State.REJECTED,
        decided_by=f"superseded by run #{run.pk}",
        decided_at=timezone.now(),
    )
    if not missing:
        return DeletionOutcome()
    reason = guard_reason(dest, fetched=run.fetched, live_rows=live_rows, missing=len(missing))
    if reason:
        held = PendingDeletion.objects.create(
            client=client, run=run, keys=missing, live_rows=live_rows, reason=reason, action=dest.on_missing
        )
        log.warning("client %s: %s; %s", client.name, reason, deletions_waiting_text(len(missing)))
        return DeletionOutcome(held=held)
    applied = apply_deletions(client=client, dest=dest, keys=missing, run_id=run.pk)
    return DeletionOutcome(deleted=len(applied.deleted), refused=applied.refused_text())


# A run saw a key when one of its batches wrote it (the ledger's last_seen_run) or listed it
# as seen without rewriting it (SyncBatch.seen_keys: unchanged or failed there).
_SEEN_BY_RUN = {
    "postgresql": "SELECT jsonb_array_elements_text(b.seen_keys) FROM syncers_syncbatch b "
    "WHERE b.run_id = %s AND b.seen_keys IS NOT NULL",
    "sqlite": "SELECT j.value FROM syncers_syncbatch b, json_each(b.seen_keys) j "
    "WHERE b.run_id = %s AND b.seen_keys IS NOT NULL",
}


def unseen_live_keys(client_id: int, run_id: int) -> list[str]:
    """The client's live ledger keys (not missing yet) that run `run_id` did not see, sorted."""
    sql = (
        "SELECT r.external_id FROM syncers_syncedrecord r WHERE r.client_id = %s "
        "AND r.missing_since IS NULL AND (r.last_seen_run IS NULL OR r.last_seen_run <> %s) "
        f"AND r.external_id NOT IN ({_SEEN_BY_RUN[connection.vendor]}) ORDER BY r.external_id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [client_id, run_id, run_id])
        return [row[0] for row in cur.fetchall()]


def seen_after(client_id: int, run_id: int, keys: list[str]) -> set[str]:
    """Those of `keys` that a run later than `run_id` saw."""
    wanted = set(keys)
    back = set(
        SyncedRecord.objects.filter(
            client_id=client_id, external_id__in=keys, last_seen_run__gt=run_id
        ).values_list("external_id", flat=True)
    )
    later = SyncBatch.objects.filter(client_id=client_id, run_id__gt=run_id, seen_keys__isnull=False)
    for seen in later.values_list("seen_keys", flat=True).iterator(chunk_size=20):
        back.update(wanted.intersection(seen or ()))  # never None: filtered above
    return back


def guard_reason(dest: Destination, *, fetched: int, live_rows: int, missing: int) -> str:
    """Why these deletions must wait for an operator; empty when they may go ahead."""
    if fetched == 0 and live_rows:
        return f"the listing came back empty while the client has {counted(live_rows, 'row')}"
    are = "is" if missing == 1 else "are"
    if missing > dest.max_delete_fraction * live_rows:
        return (
            f"{missing} of {counted(live_rows, 'row')} ({missing / live_rows:.0%}) {are} missing from the listing, "
            f"over max_delete_fraction {dest.max_delete_fraction:.0%}"
        )
    if dest.max_delete_rows is not None and missing > dest.max_delete_rows:
        return (
            f"{counted(missing, 'row')} {are} missing from the listing, "
            f"over max_delete_rows {dest.max_delete_rows}"
        )
    return ""


def apply_deletions(*, client: SyncClient, dest: Destination, keys: list[str], run_id: int | None) -> Applied:
    """Soft-delete (one UPDATE) or delete the rows of exactly these keys (the live ones among
    them), mark them missing in the ledger, and tell the after_write hook. A row the
    model's delete rules keep (on_delete=PROTECT or RESTRICT of a model pointing at it) stays,
    live in the ledger, and is named in the result instead of failing the whole deletion."""
    now = timezone.now()
    ledger = SyncedRecord.objects.filter(client=client, external_id__in=keys, missing_since__isnull=True)
    found = list(ledger.values_list("external_id", "target_pk"))
    if not found:
        return Applied([], [])
    pk_field = dest.model._meta.pk
    by_key = {key: pk_field.to_python(pk) if pk else None for key, pk in found}
    refused: list[str] = []
    reason = ""
    if dest.on_missing == "soft":
        f = dest.soft_field
        assert f is not None
        rows = dest.model._default_manager.filter(pk__in=[pk for pk in by_key.values() if pk is not None])
        rows.update(**{f.attname: False if isinstance(f, models.BooleanField) else now})
    else:
        refused, reason = _delete_rows(dest.model, by_key)
    kept = set(refused)
    deleted = [key for key, _ in found if key not in kept]
    SyncedRecord.objects.filter(client=client, external_id__in=deleted).update(missing_since=now)
    if (name := dest.hooks.get("after_write")) and deleted:
        ctx = HookContext(
            client_id=client.pk, client_name=client.name, run_id=run_id, batch_id=None, model=dest.model
        )
        get_hook("after_write", name)(ctx, WriteResult(deleted=deleted))
    return Applied(deleted, refused, reason)


_REFUSED = (ProtectedError, RestrictedError)


def _delete_rows(model: type[models.Model], by_key: dict[str, Any]) -> tuple[list[str], str]:
    """Delete the rows (Django's delete: cascades and signals apply) in one go; when the
    model's rules refuse that, row by row, each in a savepoint, keeping the refused ones.
    Returns the refused keys and the first reason."""
    manager = model._default_manager
    try:
        with transaction.atomic():
            manager.filter(pk__in=[pk for pk in by_key.values() if pk is not None]).delete()
        return [], ""
    except _REFUSED:
        pass
    refused: list[str] = []
    reason = ""
    for key, pk in by_key.items():
        if pk is None:
            continue
        try:
            with transaction.atomic():
                manager.filter(pk=pk).delete()
        except _REFUSED as exc:
            refused.append(key)
            reason = reason or str(exc.args[0])
    return refused, reason


def deletions_waiting(client: SyncClient) -> PendingDeletion | None:
    """The deletions of `client` waiting for an operator's approval, if any."""
    return client.pending_deletions.filter(state=PendingDeletion.State.WAITING).order_by("-pk").first()


def pending_deletion_approve(*, pending: PendingDeletion, who: str) -> int:
    """Apply exactly the keys the operator saw; returns the rows deleted (keys that came back
    since, i.e. live again in the ledger after a later run saw them, are spared)."""
    with transaction.atomic():
        locked = PendingDeletion.objects.select_for_update().get(pk=pending.pk)
        if locked.state != PendingDeletion.State.WAITING:
            raise ValueError(f"these deletions were already {locked.get_state_display()}")
        client = SyncClient.objects.select_for_update().get(pk=locked.client_id)
        dest = client_destination(client)
        if dest is None or dest.on_missing == "keep":
            raise ValueError(f"{client.name} no longer deletes (on_missing is keep or no destination)")
        keys = list(locked.keys)
        if locked.run_id is not None:
            back = seen_after(client.pk, locked.run_id, keys)
            keys = [k for k in keys if k not in back]
        applied = apply_deletions(client=client, dest=dest, keys=keys, run_id=locked.run_id)
        locked.applied = len(applied.deleted)
        if applied.refused:
            log.warning("approved deletions of %s: %s", client.name, applied.refused_text())
        locked.state, locked.decided_by, locked.decided_at = (
            PendingDeletion.State.APPROVED,
            who,
            timezone.now(),
        )
        locked.save(update_fields=["applied", "state", "decided_by", "decided_at"])
    log.info("%s approved %s of %s", who, counted(locked.applied, "deletion"), client.name)
    return locked.applied


def pending_deletion_reject(*, pending: PendingDeletion, who: str) -> None:
    """Discard the held deletions: the rows stay."""
    done = PendingDeletion.objects.filter(pk=pending.pk, state=PendingDeletion.State.WAITING).update(
        state=PendingDeletion.State.REJECTED, decided_by=who, decided_at=timezone.now()
    )
    if not done:
        raise ValueError("these deletions are not waiting any more")
    log.info("%s rejected %s of client #%s", who, counted(len(pending.keys), "deletion"), pending.client_id)
