"""Metrics and structured logs: what an operator's monitoring sees."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from django.core.cache import cache
from django.test import override_settings

from fakeapi.control import FakeApi
from gateway import metrics as gateway_metrics
from syncers.logcontext import ContextFilter, JsonFormatter, log_context
from syncers.services import sync_run_now_here

from .processes import ROOT, child_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_metrics_are_off_unless_enabled(client) -> None:
    assert client.get("/metrics").status_code == 404


@override_settings(SYNC_METRICS_ENABLED=True, SYNC_METRICS_TOKEN="scrape-me")
def test_metrics_show_runs_records_client_state_and_api_requests(client, api: FakeApi, make_client) -> None:
    products = make_client(queue="nobody-consumes-this")
    cache.delete_many(
        [*(cache.get(gateway_metrics.KEYS_SET) or []), gateway_metrics.KEYS_SET]
    )  # Redis outlives tests
    sync_run_now_here(client=products, who="test")

    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()

    assert 'xcoresite_runs_total{client="products",status="succeeded"} 1.0' in text
    assert 'xcoresite_records_total{client="products",outcome="created"} 250.0' in text
    assert 'xcoresite_client_state{client="products",state="active"} 1.0' in text
    assert 'xcoresite_api_requests_total{connection="fake-api",status="200"} 6.0' in text
    assert "xcoresite_pending_batches 0.0" in text


def test_json_log_lines_carry_the_client_run_and_page() -> None:
    record = logging.LogRecord(
        "syncers.pipeline.run", logging.INFO, __file__, 1, "fetched %d page(s)", (3,), None
    )
    with log_context(client="products", run=42):
        ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["client"] == "products" and line["run"] == 42 and line["message"] == "fetched 3 page(s)"


def test_a_real_run_logs_json_lines_with_its_ids(api: FakeApi, make_client) -> None:
    products = make_client(queue="nobody-consumes-this")
    result = subprocess.run(
        [sys.executable, "manage.py", "sync_run", products.name, "--inline"],
        cwd=ROOT,
        env=child_env(LOG_FORMAT="json", SYNC_LOG_LEVEL="INFO"),  # commands log WARNING+ unless asked
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    fetched = next(line for line in lines if line["message"].startswith("fetched"))
    assert fetched["client"] == "products" and isinstance(fetched["run"], int) and fetched["page"] == 6
