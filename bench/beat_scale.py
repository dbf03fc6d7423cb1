"""Scheduler scale: n PeriodicTasks all due every minute (half crontab `* * * * *`, half interval
60 s) plus 100 clocked one-shots, fired by a real `celery beat` process for a few minutes.

Beat publishes to a Redis queue no worker reads (redis://127.0.0.1:6379/7); a thread here drains
it. Each message carries two headers added by a thin subclass of the scheduler under test
(`apply_async` only): the entry's previous `last_run_at` and the send time. The due time follows
from the schedule (interval: last run + 60 s; cron: the next minute boundary after it; one-shot:
its clock time), so lateness = send time - due time, with no guess about which occurrence a
message belongs to. CPU and peak RSS come from /proc/<beat pid>.

    python bench/beat_scale.py [--n 10000] [--minutes 3] [--compare-stock]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BROKER = "redis://127.0.0.1:6379/7"
QUEUE = "beatbench"
PREFIX = "bench-beat:"
NOOP = "bench.noop"  # never registered: beat publishes it by name, nobody runs it
LEAD_S = 25.0  # first due times this long after the rows exist: beat loads meanwhile
ONESHOTS = 100
EDITED = f"{PREFIX}int:0"  # due on the whole minute after the rows exist, then every 60 s
SCHEDULERS = {"ours": "StampedSyncScheduler", "stock": "StampedStockScheduler"}


def __getattr__(name: str) -> type:
    """`celery beat -S bench.beat_scale:Stamped...`: built on first use, after Django is set up."""
    if name not in SCHEDULERS.values():
        raise AttributeError(name)
    from celery.utils.time import maybe_make_aware

    if name == "StampedSyncScheduler":
        from syncers.schedules.beat import SyncScheduler as base
    else:
        from django_celery_beat.schedulers import DatabaseScheduler as base

    def apply_async(self: Any, entry: Any, producer: Any = None, advance: bool = True, **kw: Any) -> Any:
        headers = entry.options.setdefault("headers", {})
        headers["bench_last_run"] = maybe_make_aware(entry.last_run_at).timestamp()
        headers["bench_sent"] = time.time()
        return base.apply_async(self, entry, producer, advance, **kw)

    cls = type(name, (base,), {"apply_async": apply_async})
    globals()[name] = cls
    return cls


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Drain(threading.Thread):
    """Pops beat's messages off the queue; keeps (name, last run, sent, edited) per message."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import redis

        self.redis = redis.Redis.from_url(BROKER)
        self.redis.delete(QUEUE)
        self.sent: list[tuple[str, float, float, bool]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            raw = self.redis.rpop(QUEUE, 1000)
            if not raw:
                time.sleep(0.05)
                continue
            for item in raw:
                h = json.loads(item)["headers"]
                name = h.get("periodic_task_name", "")
                if name.startswith(PREFIX):
                    self.sent.append((name, h["bench_last_run"], h["bench_sent"], "bench_edited" in h))

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.redis.delete(QUEUE, "celery")


def _create_tasks(n: int, first_due: float, window_s: float) -> dict[str, float]:
    """The rows; returns each row's first due time. Interval rows' first runs are spread over a
    minute (as a fleet created over time would be); cron rows all fire on the minute."""
    from datetime import UTC, datetime

    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        PeriodicTasks,
    )

    def at(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, tz=UTC)

    _delete_tasks()
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    cron, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    common = {"task": NOOP, "queue": QUEUE, "kwargs": "{}"}
    half, now = n // 2, time.time()
    due = {f"{PREFIX}cron:{i}": (now // 60 + 1) * 60 for i in range(half)}  # last run: date_changed
    due |= {f"{PREFIX}int:{i}": first_due + 60 * i / (n - half) for i in range(n - half)}
    due |= {f"{PREFIX}once:{i}": first_due + 10 + (window_s - 20) * i / ONESHOTS for i in range(ONESHOTS)}
    rows = []
    for name, when in due.items():
        if ":cron:" in name:
            rows.append(PeriodicTask(name=name, crontab=cron, **common))
        elif ":int:" in name:
            rows.append(PeriodicTask(name=name, interval=every, last_run_at=at(when - 60), **common))
        else:
            clock = ClockedSchedule.objects.create(clocked_time=at(when))
            rows.append(PeriodicTask(name=name, clocked=clock, one_off=True, **common))
    PeriodicTask.objects.bulk_create(rows, batch_size=2000)
    PeriodicTasks.update_changed()  # bulk_create sends no signal
    return due


def _delete_tasks() -> None:
    from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

    PeriodicTask.objects.filter(name__startswith=PREFIX).delete()
    ClockedSchedule.objects.filter(periodictask__isnull=True).delete()
    PeriodicTasks.update_changed()


def _edit(name: str) -> float:
    """Change an interval row from 60 s to 2 s, as schedule_publish does (PeriodicTask.save()),
    and mark its messages. Edited half a minute from its own due time, it is due at once under
    the new schedule and not under the old, so its first marked send times the scheduler."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    task = PeriodicTask.objects.get(name=name)
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    task.headers = json.dumps({"bench_edited": True})
    task.save()
    return time.time()


def _due(name: str, last_run: float, first_due: dict[str, float]) -> float:
    if ":once:" in name:
        return first_due[name]
    if ":cron:" in name:
        return (last_run // 60 + 1) * 60
    return last_run + 60


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _summarise(
    drain: Drain, first_due: dict[str, float], window: tuple[float, float], edit_at: float
) -> dict:
    start, end = window
    late, backlog, fired = [], [], Counter()
    last_sent: dict[str, float] = {}
    for name, last_run, sent, _ in drain.sent:
        fired[name] += ":once:" in name
        last_sent[name] = sent
        due = _due(name, last_run, first_due)
        if start <= due < end and not (name == EDITED and sent > edit_at - 60):
            late.append(sent - due)
    for name, due in first_due.items():
        if name in last_sent and ":once:" not in name:
            due = _due(name, last_sent[name], first_due)
        if name != EDITED and due < end - 2 and (":once:" not in name or name not in last_sent):
            backlog.append(end - due)  # due before the end, not sent by then
    marked = [sent for name, _, sent, edited in drain.sent if edited]
    around = sorted(sent for _, _, sent, _ in drain.sent if edit_at - 5 <= sent <= edit_at + 15)
    once = [c for name, c in fired.items() if ":once:" in name]
    # Sent within the window, whenever due: stock spends the window on its backlog.
    periodic = sum(1 for name, _, sent, _ in drain.sent if ":once:" not in name and start <= sent < end)
    return {
        "schedules": sum(":once:" not in name for name in first_due),
        "due_per_min": sum(":once:" not in name for name in first_due),
        "dispatched_per_min": round(periodic / ((end - start) / 60)),
        "late_p50_s": round(_pct(late, 50), 3) if late else None,
        "late_p99_s": round(_pct(late, 99), 3) if late else None,
        "late_max_s": round(max(late + backlog), 3) if late or backlog else None,
        "overdue_unsent_at_end": len(backlog),
        "edit_effective_s": round(min(marked) - edit_at, 2) if marked else None,
        "edit_then_every_s": round(statistics.median(b - a for a, b in pairwise(sorted(marked))), 2)
        if len(marked) > 2
        else None,
        "edit_max_gap_s": round(max(b - a for a, b in pairwise(around)), 3) if len(around) > 1 else None,
        "oneshots": ONESHOTS,
        "oneshots_fired": len(once),
        "oneshots_duplicates": sum(c - 1 for c in once),
    }


def _stop(beat: subprocess.Popen) -> float:
    """SIGTERM (stock then saves every dirty entry one by one); SIGKILL after a minute."""
    start = time.monotonic()
    beat.terminate()
    try:
        beat.wait(60)
    except subprocess.TimeoutExpired:
        beat.kill()
        beat.wait(10)
    return time.monotonic() - start


def _run_one(scheduler: str, n: int, minutes: float, log_dir: Path) -> dict[str, Any]:
    window_s = minutes * 60
    drain = Drain()
    drain.start()
    # First dues from hh:mm:15: the edited row then falls due at :15 and is edited at :45,
    # away from the cron bursts at :00.
    first = time.time() + LEAD_S
    first += (15 - first % 60) % 60
    due = _create_tasks(n, first, window_s)
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": BROKER}
    cmd = [sys.executable, "-m", "celery", "-A", "xcoresite", "beat", "-l", "INFO", "--pidfile="]
    cmd += ["-S", f"bench.beat_scale:{SCHEDULERS[scheduler]}"]
    with open(log_dir / f"beat-{scheduler}.log", "wb") as log:
        beat = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(max(first - time.time(), 0))
        startup_cpu = cpu0 = _cpu_s(beat.pid)
        t0 = time.monotonic()
        # Half a minute past the edited row's own due time, and between two cron bursts.
        edit_at = first + 60 * max(1, round(window_s / 120)) + 30
        time.sleep(max(edit_at - time.time(), 0))
        edit_at = _edit(EDITED)
        time.sleep(max(first + window_s - time.time(), 0))
        cpu1, t1 = _cpu_s(beat.pid), time.monotonic()
        rss = _peak_rss_mb(beat.pid)
        time.sleep(3)  # let the window's last sends arrive
    finally:
        stop_s = _stop(beat)
        drain.stop()
        _delete_tasks()
    result = _summarise(drain, due, (first, first + window_s), edit_at)
    return result | {
        "scheduler": scheduler,
        "cpu_pct_of_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
        "startup_cpu_s": round(startup_cpu, 2),
        "rss_mb": round(rss, 1),
        "stop_s": round(stop_s, 1),
    }


def measure_beat_scale(n: int = 10_000, minutes: float = 3, compare_stock: bool = False) -> dict[str, Any]:
    """Run beat against n schedules for `minutes`; with compare_stock, stock's figures under 'stock'."""
    from django.conf import settings

    log_dir = Path(settings.VAR_DIR) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    result = _run_one("ours", n, minutes, log_dir)
    if compare_stock:
        result["stock"] = _run_one("stock", n, minutes, log_dir)
    return result


def prepare_database(url: str) -> None:
    """Create the PostgreSQL database if it is missing, then migrate it (in a subprocess)."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    if parts.scheme.startswith("postgres"):
        import psycopg

        with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
            name = parts.path.lstrip("/")
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )


def _main() -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--compare-stock", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/xcoresite_beat")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")
    prepare_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    result = measure_beat_scale(args.n, args.minutes, args.compare_stock)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
