"""Health of the moving parts — beat, workers, broker, Redis — for `sync_status` and the
admin. Each check answers in about a second at most and never raises."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from celery import current_app as app  # the project's app (xcoresite/celery.py)
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from syncers.schedules.beat import interval_due_at

RECONCILE_ENTRY = "syncers-reconcile"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def beat_stale_after() -> float:
    return max(3 * settings.SYNC_RECONCILE_EVERY, 90.0)


def record_beat_heartbeat() -> None:
    """Called by the reconciler when beat sent it: beat, broker and a worker all work.
    Written to the entry's last_run_at, which stock beat itself only saves every few minutes."""
    PeriodicTask.objects.filter(name=RECONCILE_ENTRY).update(last_run_at=timezone.now())


def check_beat() -> Check:
    """Beat sends the reconciler every SYNC_RECONCILE_EVERY seconds (see record_beat_heartbeat).

    Beat writes the reconciler's row at each start (date_changed), before its first heartbeat:
    until a heartbeat is due (`beat_stale_after`), a beat without one since is "starting"."""
    row = PeriodicTask.objects.filter(name=RECONCILE_ENTRY).values("last_run_at", "date_changed").first()
    last, started = (row["last_run_at"], row["date_changed"]) if row else (None, None)
    now = timezone.now()
    if started is not None and (last is None or last < started):
        since = (now - started).total_seconds()
        if since <= beat_stale_after():
            return Check("beat", True, f"starting (started {since:.0f}s ago, no heartbeat yet)")
    if last is None:
        return Check("beat", False, "never ran (no heartbeat yet)")
    age = (now - last).total_seconds()
    ok = age <= beat_stale_after()
    # The check's name and state stand beside its detail (dashboard, sync_status, the banner):
    # the detail says only what was seen, not "beat" or "stopped" again.
    return Check("beat", ok, f"last heartbeat {age:.0f}s ago")


def check_workers(timeout: float = 1.0) -> Check:
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return Check("workers", False, f"ping failed: {type(exc).__name__}: {exc}")
    names = sorted(name for reply in replies for name in reply)
    return Check(
        "workers",
        bool(names),
        f"{len(names)} answering: {', '.join(names)}" if names else "no worker answered",
    )


def check_broker() -> Check:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return Check("broker", False, f"unreachable: {type(exc).__name__}: {exc}")
    return Check("broker", True, f"reachable ({app.conf.broker_url.split('://')[0]})")


def check_redis() -> Check | None:
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:
        return Check("redis", False, f"unreachable: {type(exc).__name__}")
    return Check("redis", True, "reachable")


def check_database() -> Check:
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM syncers_syncclient LIMIT 1")
    except DatabaseError as exc:
        return Check("database", False, f"{str(exc).strip().splitlines()[0]} (run manage.py migrate?)")
    return Check("database", True, f"{connection.vendor} reachable")


def system_checks() -> list[Check]:
    database = check_database()
    if not database.ok:
        return [database, check_broker()]
    checks = [database, check_beat(), check_workers(), check_broker(), check_redis()]
    return [c for c in checks if c is not None]


def next_fire(task: PeriodicTask) -> str | None:
    """The next time beat will fire this entry, in its schedule's own time zone."""
    if not task.enabled:
        return None
    if task.clocked_id:
        return task.clocked.clocked_time.isoformat()
    now_dt = timezone.now()
    if task.interval_id:
        when = interval_due_at(task, now=now_dt) + timedelta(microseconds=500_000)
        if task.expires is not None and when >= task.expires:
            return None  # beat disables it at its end instead
        return when.replace(microsecond=0).isoformat()
    schedule = task.schedule
    last = task.last_run_at or task.start_time or now_dt
    remaining = schedule.remaining_estimate(last)
    # Estimates drift by the microseconds spent computing them; fire times are whole seconds.
    when = now_dt + max(remaining, timedelta(0)) + timedelta(microseconds=500_000)
    if task.expires is not None and when >= task.expires:
        return None
    if task.crontab_id:
        when = when.astimezone(task.crontab.timezone)
    return when.replace(microsecond=0).isoformat()
