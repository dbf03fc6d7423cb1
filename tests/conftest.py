"""Shared fixtures: the bundled fake API and a real Celery worker, both as child processes,
against the same database and broker the test process uses."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient

from .processes import TEST_LEASE_TTL, TEST_REDISPATCH_AFTER, Service, start_worker


@pytest.fixture(scope="session", autouse=True)
def _short_timings() -> Iterator[None]:
    """The test process uses the same lease TTL and redispatch delay as its workers."""
    with override_settings(SYNC_LEASE_TTL=TEST_LEASE_TTL, SYNC_REDISPATCH_AFTER=TEST_REDISPATCH_AFTER):
        yield


def _purge_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        shutil.rmtree(settings.BROKER_DIR / "queue", ignore_errors=True)
        (settings.BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
        return
    from xcoresite.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in ("celery", settings.SYNC_DEFAULT_QUEUE):
            with contextlib.suppress(Exception):  # a never-declared queue has nothing to purge
                channel.queue_purge(queue)


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi.start(records=250)
    yield api
    api.stop()


@pytest.fixture
def api(fake_api: FakeApi) -> FakeApi:
    """The fake API, reset to 250 plain records with no delay and no failures."""
    fake_api.reset(records=250)
    return fake_api


@pytest.fixture(scope="session")
def worker(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[Service]:
    _purge_broker()
    proc = start_worker()
    yield proc
    proc.stop()


@pytest.fixture
def connection_to(api: FakeApi) -> Connection:
    return Connection.objects.create(name="fake-api", base_url=api.url, connect_timeout=2, read_timeout=10)


@pytest.fixture
def make_client(connection_to: Connection):
    def make(name: str = "products", **overrides: object) -> SyncClient:
        fields = {
            "handler": "demo_products",
            "config": {"page_size": 50},
            "batch_size": 40,
            **overrides,
        }
        client = SyncClient(name=name, connection=connection_to, **fields)
        client.full_clean()
        client.save()
        return client

    return make
