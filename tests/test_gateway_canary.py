"""A canary credential goes through a real sync that fails half-way (real worker, real broker,
the fake API over HTTP) and must not appear anywhere but its encrypted column: no table, no
log, no broker message, no cache entry."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.conf import settings

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import sync_run_request

from .processes import Service

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def database_text() -> Iterator[tuple[str, str]]:
    for model in apps.get_models():
        for row in model._default_manager.all().values_list():
            yield model._meta.label, repr(row)


def redis_text(url: str) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        dump = client.dump(key) if kind != "none" else b""
        yield key.decode(errors="replace") + repr(dump)


def broker_text() -> Iterator[str]:
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis://"):
        yield from redis_text(url)
    elif url.startswith("filesystem://"):
        for path in settings.BROKER_DIR.rglob("*"):
            if path.is_file():
                yield path.read_text(errors="replace")


@pytest.mark.parametrize("kind", ["api_key_query", "bearer"])
def test_a_canary_secret_stays_in_its_encrypted_column_through_a_failing_sync(
    api: FakeApi, worker: Service, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = f"canary-{uuid.uuid4().hex}"
    api.auth(api_key=canary, bearer=canary)
    api.configure(fail_pages={"3": 503})
    segment = "query" if kind == "api_key_query" else "bearer"
    connection = Connection(
        name=f"canary-{segment}", base_url=f"{api.url}/auth/{segment}", auth_kind=kind, max_retries=1
    )
    connection.set_secret(canary)
    connection.full_clean()
    connection.save()
    client = SyncClient(name=f"canary-{segment}", connection=connection, handler="demo_products")
    client.config, client.batch_size = {"page_size": 50}, 40
    client.save()

    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    run = run_wait_final(run_id=run.pk, timeout=60)

    assert run.status == SyncRun.Status.FAILED and "503" in run.error
    assert run.fetched == 100, "two pages arrived with the secret on every request"
    leaks = [label for label, text in database_text() if canary in text]
    assert leaks == [], f"canary found in {leaks}"
    assert canary not in worker.log()
    assert canary not in caplog.text
    assert not [text[:80] for text in broker_text() if canary in text]
    if settings.REDIS_URL:
        assert not [text[:80] for text in redis_text(settings.REDIS_URL) if canary in text]
