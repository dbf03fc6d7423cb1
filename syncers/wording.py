"""How the admin and the run log word things: counts with the right plural, run statuses in
plain words.

Messages put a verb first ("Paused 1 client: newcomer-api."): the admin capitalises a
message's first letter, which would turn a leading object name into one nobody wrote."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.timesince import timesince

# Short labels for lists (the model's choice labels are the long form, shown on a run's page).
RUN_STATUS_LABELS = {
    "skipped_paused": "skipped (paused)",
    "skipped_locked": "skipped (already running)",
    "partial": "partial",
}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """counted(1, "client") → "1 client"; counted(2, "client") → "2 clients"."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in its largest unit: "just now" under a minute (not "0 minutes ago"),
    else "5 minutes ago", "2 hours ago"."""
    now = now or timezone.now()
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def named(objects: Iterable[object]) -> str:
    """The objects' names as written, comma-separated."""
    return ", ".join(str(o) for o in objects)


_STATUS_OUTCOME = {
    "succeeded": "succeeded",
    "partial": "partial",
    "failed": "failed",
    "skipped_locked": "skipped",
    "skipped_paused": "skipped",
    "cancelled": "stopped",
    "abandoned": "stopped",
    "queued": "in progress",
    "running": "in progress",
}


def outcome(status: str) -> str:
    """The group of a run status in charts and badges (skipped_* → skipped, cancelled and
    abandoned → stopped...); below the console so the progress endpoint can use it too."""
    return _STATUS_OUTCOME.get(status, "skipped")


EVENT_LABELS = {"auto_pause": "auto-pause", "auth_pause": "paused: credentials refused"}


def run_status_label(status: str) -> str:
    return RUN_STATUS_LABELS.get(status, status.replace("_", " "))


def event_label(event: str) -> str:
    """A notification's event in words: "first_failure" → "first failure"."""
    return EVENT_LABELS.get(event, event.replace("_", " "))


def older_copies_text(older: int) -> str:
    """ "N older copies ignored" (by the version rule, syncers.versions), or "" for none."""
    return f"{older:,} older cop{'y' if older == 1 else 'ies'} ignored" if older else ""


def rows_deleted(count: int, action: str) -> str:
    """What approving held deletions did, by the destination's `on_missing` action:
    rows_deleted(1, "delete") → "1 row deleted"; rows_deleted(2, "soft") → "2 rows soft-deleted"."""
    return f"{counted(count, 'row')} {'soft-deleted' if action == 'soft' else 'deleted'}"


def deletions_approved(keys: int, applied: int, action: str) -> str:
    """ "Approved 1 deletion: 1 row deleted" (the API's message and sync_deletions' line)."""
    return f"Approved {counted(keys, 'deletion')}: {rows_deleted(applied, action)}"


def deletions_rejected(keys: int) -> str:
    """ "Rejected 1 deletion; the row stays" / "Rejected 2 deletions; the rows stay"."""
    return f"Rejected {counted(keys, 'deletion')}; {'the row stays' if keys == 1 else 'the rows stay'}"


def listed(noun: str, names: Iterable[str], plural: str | None = None) -> str:
    """The noun in the number the names need, then the names: listed("unknown key", ["colour"])
    → "unknown key colour"; two names → "unknown keys colour, size"."""
    names = list(names)
    return f"{noun if len(names) == 1 else plural or noun + 's'} {', '.join(names)}"


def deletions_waiting_text(count: int) -> str:
    """ "1 deletion waiting for approval" / "2 deletions waiting for approval": the run's text,
    the guard's log line and sync_status say it alike."""
    return f"{counted(count, 'deletion')} waiting for approval"
