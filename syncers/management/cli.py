"""What the operator commands share: names looked up with one-line errors, durations, exit
codes of finished runs, JSON output, and the admin log entry an action leaves behind."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import CommandError
from django.db.models import Model

from gateway.models import Connection
from syncers.audit import record_change
from syncers.models import SyncClient, SyncRun
from syncers.selectors import client_get

# Exit codes once a run has ended: scripts can tell "did nothing" apart from "broke".
EXIT_CODES: dict[str, int] = {
    SyncRun.Status.SUCCEEDED: 0,
    SyncRun.Status.PARTIAL: 2,
    SyncRun.Status.SKIPPED_LOCKED: 3,
    SyncRun.Status.SKIPPED_PAUSED: 3,
}
# LogEntry needs a user; actions taken from the shell by nobody with an account are logged
# under this one, which cannot log in (inactive, no usable password).
SHELL_ACCOUNT = "manage.py"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_arg(ref: str) -> SyncClient:
    """The client a command names (name or id), or a CommandError that lists known names."""
    try:
        return client_get(ref=ref)
    except SyncClient.DoesNotExist as exc:
        raise CommandError(str(exc)) from None


def connection_arg(ref: str) -> Connection:
    """The connection a command names (name or id), or a CommandError that lists known names."""
    qs = Connection.objects.all()
    found = qs.filter(name=ref).first() or (qs.filter(pk=int(ref)).first() if ref.isdigit() else None)
    if found is None:
        known = ", ".join(qs.values_list("name", flat=True)[:20]) or "none yet"
        raise CommandError(f"unknown connection '{ref}' (known: {known})")
    return found


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '2h', '1d' (or combined, '1h30m')."""
    parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or parts is None or not any(parts.groups()):
        raise CommandError(f"invalid duration '{text}': use e.g. 90s, 15m, 2h, 1d or 1h30m")
    seconds = sum(int(v) * UNITS[u] for v, u in zip(parts.groups(), "dhms", strict=True) if v)
    return timedelta(seconds=seconds)


def exit_code(runs: list[SyncRun]) -> int:
    """The worst exit code of these ended runs: 0 succeeded, 2 partial, 3 skipped, 1 otherwise."""
    return max((EXIT_CODES.get(run.status, 1) for run in runs), default=0)


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, default=str)


def record_action(obj: Model, message: str, *, by: str) -> None:
    """Write the admin log entry the admin writes for the same action, so the object's
    history shows what was done from the shell too. It is filed under the account named
    `by` if there is one, else under SHELL_ACCOUNT with `by` kept in the message."""
    users = get_user_model()
    user = users.objects.filter(**{users.USERNAME_FIELD: by}).first()
    if user is None:
        user, _ = users.objects.get_or_create(
            **{users.USERNAME_FIELD: SHELL_ACCOUNT},
            defaults={"is_active": False, "password": make_password(None)},
        )
        message = f"{message} (by {by})"
    record_change(user=user, obj=obj, message=message)
