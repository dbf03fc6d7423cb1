"""Admin client list at scale: the changelist /admin/syncers/syncclient/ rendered by Django's
test client as a superuser with 10 and with n sync clients. The query count must not depend
on n (no query per row); render time is the median of a few renders. Everything runs in one
transaction that is rolled back, so the configured database is left as it was.

    python bench/admin_list.py [--n 10000]
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
URL = "/admin/syncers/syncclient/"
RENDERS = 3


class _Rollback(Exception):
    pass


def _shape(sql: str) -> str:
    """A query with its literals and IN lists blanked, so a query per row stands out."""
    sql = re.sub(r"\b\d+\b|'[^']*'|%s", "?", sql)
    sql = re.sub(r"\(\s*\?(?:\s*,\s*\?)*\s*\)", "(?)", sql)
    return re.sub(r"\s+LIMIT \?(?: OFFSET \?)?$", "", sql)  # one page (no LIMIT) or many


def _render(browser: Any) -> tuple[list[str], float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], []
    for _ in range(RENDERS):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = browser.get(URL, HTTP_HOST="localhost")
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        queries = [q["sql"] for q in ctx.captured_queries]
    return queries, statistics.median(times)


def _add_clients(connection: Any, start: int, stop: int) -> None:
    from syncers.models import SyncClient

    SyncClient.objects.bulk_create(
        [SyncClient(name=f"bench-list-{i:05d}", connection=connection) for i in range(start, stop)],
        batch_size=2000,
    )


def measure_admin_list(n: int = 10_000) -> dict[str, Any]:
    """Queries and render time of the client list at 10 and at n clients."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client

    from gateway.models import Connection

    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            gateway = Connection.objects.create(name="bench-admin-list", base_url="http://127.0.0.1:9")
            user = get_user_model().objects.create_superuser("bench-admin-list", "", "unused")
            browser = Client()
            browser.force_login(user)
            _add_clients(gateway, 0, 10)
            small, small_s = _render(browser)
            _add_clients(gateway, 10, n)
            large, large_s = _render(browser)
            raise _Rollback
    except _Rollback:
        pass
    extra = Counter(map(_shape, large)) - Counter(map(_shape, small))
    result = {
        "clients": n,
        "queries_at_10": len(small),
        "queries_at_n": len(large),
        "queries_constant": len(small) == len(large),
        "render_ms_at_10": round(small_s * 1000, 1),
        "render_ms_at_n": round(large_s * 1000, 1),
    }
    if extra:
        result["extra_queries_at_n"] = [f"{count}x {sql[:300]}" for sql, count in extra.most_common(5)]
    return result


def _main() -> int:
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/xcoresite_beat")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")
    from bench.beat_scale import prepare_database

    prepare_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    print(json.dumps(measure_admin_list(args.n), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
