"""Admin dashboard at scale: /admin/syncers/syncclient/dashboard/ rendered by Django's test
client as a superuser with n sync runs (default 100,000) spread over the last 30 days across
200 clients, a mix of outcomes, and 5,000 failed records. Render time is the median of a few
renders, with the query count and the slowest query. Everything runs in one transaction that
is rolled back, so the configured database is left as it was. (The health checks, which wait
about a second for workers to answer a ping, load separately and are not part of the page.)

    python bench/dashboard.py [--runs 100000]
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
URL = "/admin/syncers/syncclient/dashboard/"
RENDERS = 5
CLIENTS = 200
FAILED_RECORDS = 5_000
STATUSES = ["succeeded"] * 80 + ["partial"] * 6 + ["failed"] * 8 + ["skipped_paused"] * 4 + ["cancelled"] * 2


class _Rollback(Exception):
    pass


def _add_runs(n: int) -> None:
    """n finished runs, queued at random moments of the last 30 days, with counts and durations."""
    from django.utils import timezone

    from gateway.models import Connection
    from syncers.models import FailedRecord, SyncClient, SyncRun

    gateway = Connection.objects.create(name="bench-dashboard", base_url="http://127.0.0.1:9")
    clients = SyncClient.objects.bulk_create(
        [SyncClient(name=f"bench-dash-{i:03d}", connection=gateway) for i in range(CLIENTS)]
    )
    rng, now, rows = random.Random(1), timezone.now(), []
    for i in range(n):
        queued = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        took = timedelta(seconds=rng.uniform(1, 600))
        rows.append(
            SyncRun(
                client=clients[i % CLIENTS],
                trigger="schedule",
                status=rng.choice(STATUSES),
                queued_at=queued,
                started_at=queued,
                finished_at=queued + took,
                pages=10,
                fetched=1000,
                created=rng.randint(0, 50),
                updated=rng.randint(0, 200),
                unchanged=800,
                failed=rng.randint(0, 3),
            )
        )
    SyncRun.objects.bulk_create(rows, batch_size=5000)
    FailedRecord.objects.bulk_create(
        [
            FailedRecord(
                client=clients[i % CLIENTS], external_id=str(i), record_key=str(i), payload="{}", reason="x"
            )
            for i in range(FAILED_RECORDS)
        ],
        batch_size=5000,
    )


def _render(browser: Any) -> tuple[float, int, tuple[float, str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], []
    for _ in range(RENDERS):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = browser.get(URL, HTTP_HOST="localhost")
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        queries = ctx.captured_queries
    slowest = max(queries, key=lambda q: float(q["time"]))
    return statistics.median(times), len(queries), (float(slowest["time"]), slowest["sql"][:200])


def measure_dashboard(runs: int = 100_000) -> dict[str, Any]:
    """Render time of the dashboard with `runs` runs in the database."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client

    try:
        with transaction.atomic():
            _add_runs(runs)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE syncers_syncrun; ANALYZE syncers_failedrecord")
            user = get_user_model().objects.create_superuser("bench-dashboard", "", "unused")
            browser = Client()
            browser.force_login(user)
            median, count, (slow_s, slow_sql) = _render(browser)
            raise _Rollback
    except _Rollback:
        pass
    return {
        "runs": runs,
        "render_ms_median": round(median * 1000, 1),
        "queries": count,
        "slowest_query_ms": round(slow_s * 1000, 1),
        "slowest_query": slow_sql,
    }


def _main() -> int:
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/xcoresite_bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")
    os.environ.setdefault("DEBUG", "false")  # DEBUG keeps every SQL statement in memory
    from bench.beat_scale import prepare_database

    prepare_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    print(json.dumps(measure_dashboard(args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
