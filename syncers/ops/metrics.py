"""Prometheus metrics at /metrics (SYNC_METRICS_ENABLED). Sync figures are read from the
database at scrape time, so every worker on every machine is counted without
multi-process bookkeeping; gateway request counters come from the shared cache."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, F, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway import metrics as gateway_metrics
from syncers.models import SyncBatch, SyncClient, SyncRun

STATES = [s for s, _ in SyncClient.State.choices]


class SyncCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _runs()
        yield from _clients()
        yield from _gateway()


def _runs() -> Iterator[Metric]:
    runs = CounterMetricFamily(
        "xcoresite_runs", "Sync runs by client and final status", labels=["client", "status"]
    )
    records = CounterMetricFamily(
        "xcoresite_records",
        "Records by client and outcome (from the runs' DB counts)",
        labels=["client", "outcome"],
    )
    seconds = CounterMetricFamily(
        "xcoresite_run_seconds", "Total duration of finished runs", labels=["client"]
    )
    per_status = SyncRun.objects.values("client__name", "status").annotate(n=Count("pk"))
    for row in per_status:
        runs.add_metric([row["client__name"], row["status"]], row["n"])
    sums = SyncRun.objects.values("client__name").annotate(
        created=Sum("created"), updated=Sum("updated"), unchanged=Sum("unchanged"), failed=Sum("failed"),
        took=Sum(F("finished_at") - F("started_at")),
    )  # fmt: skip
    for total in sums:
        for outcome in ("created", "updated", "unchanged", "failed"):
            records.add_metric([total["client__name"], outcome], total[outcome] or 0)
        seconds.add_metric([total["client__name"]], total["took"].total_seconds() if total["took"] else 0.0)
    yield from (runs, records, seconds)
    pending = GaugeMetricFamily("xcoresite_pending_batches", "Staged batches waiting to be loaded")
    pending.add_metric([], SyncBatch.objects.filter(state=SyncBatch.State.PENDING).count())
    yield pending


def _clients() -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "xcoresite_client_state", "1 for the state each client is in", labels=["client", "state"]
    )
    level = GaugeMetricFamily("xcoresite_client_error_level", "Error level of each client", labels=["client"])
    for name, current, error_level in SyncClient.objects.values_list("name", "state", "error_level"):
        for s in STATES:
            state.add_metric([name, s], 1.0 if s == current else 0.0)
        level.add_metric([name], error_level)
    yield from (state, level)


def _gateway() -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "xcoresite_api_requests",
        "Outgoing requests by connection and HTTP status",
        labels=["connection", "status"],
    )
    waits = CounterMetricFamily(
        "xcoresite_ratelimit_waits", "Requests that waited for a rate-limit slot", labels=["connection"]
    )
    waited = CounterMetricFamily(
        "xcoresite_ratelimit_wait_seconds", "Time spent waiting for slots", labels=["connection"]
    )
    for key, value in gateway_metrics.snapshot().items():
        kind, _, rest = key.partition("|")
        if kind == "requests":
            connection, _, status = rest.partition("|")
            requests.add_metric([connection, status], value)
        elif kind == "ratelimit_waits":
            waits.add_metric([rest], value)
        elif kind == "ratelimit_wait_ms":
            waited.add_metric([rest], value / 1000)
    yield from (requests, waits, waited)
