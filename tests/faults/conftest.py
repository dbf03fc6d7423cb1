"""The fault scenario fixture: a client on its own queue, reading the fake API through a bearer
connection whose secret is a canary, the processes the test starts, and the oracle."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery import current_app
from django.conf import settings

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient, SyncRun
from syncers.services import sync_run_request
from tests.processes import Service

from .harness import Procs, settle
from .oracle import RunWatch, assert_system_consistent


@dataclass
class Scenario:
    api: FakeApi
    procs: Procs
    canary: str
    queue: str
    client: SyncClient | None = None
    watch: RunWatch | None = None
    extra_queues: list[str] = field(default_factory=list)

    def serve(self, **options: Any) -> None:
        """Reset the fake API (records, page_delay, fail_pages) and demand the canary again."""
        self.api.reset(**options)
        self.api.auth(bearer=self.canary)

    def make_client(self, *, slow_load: float = 0.0, batch_size: int = 25, **config: Any) -> SyncClient:
        """The scenario's client: the fake API's products (a slow load with `slow_load`
        seconds per record), page size 50 unless `config` says otherwise."""
        from . import slow_handler  # registers the slow handler in this process too

        connection = Connection(
            name=f"fault-{self.queue}",
            base_url=f"{self.api.url}/auth/bearer",
            auth_kind="bearer",
            connect_timeout=2,
            read_timeout=10,
        )
        connection.set_secret(self.canary)
        connection.full_clean()
        connection.save()
        handler = slow_handler.NAME if slow_load else "demo_products"
        config = {"page_size": 50, **config}
        if slow_load:
            config["record_delay"] = slow_load
        client = SyncClient(
            name=self.queue, connection=connection, handler=handler, config=config, batch_size=batch_size
        )
        client.queue = self.queue
        client.full_clean()
        client.save()
        self.client = client
        self.watch = RunWatch(client.pk).__enter__()
        return client

    def worker(self, concurrency: int = 2, *, with_celery_queue: bool = True, **env: str) -> Service:
        """A worker on the scenario's queue (and the default queue, where the reconciler runs)."""
        queues = f"{self.queue},celery" if with_celery_queue else self.queue
        return self.procs.worker(queues, concurrency, **env)

    def run_now(self, who: str = "fault test") -> SyncRun:
        assert self.client is not None
        return sync_run_request(client=self.client, trigger=SyncRun.Trigger.COMMAND, who=who)

    def settle(self, timeout: float = 90, *, reconcile_here: bool = True, each_pass=None) -> None:
        assert self.client is not None
        settle(self.client, timeout=timeout, reconcile_here=reconcile_here, each_pass=each_pass)

    def assert_consistent(self) -> None:
        """The oracle (tests/faults/oracle.py)."""
        assert self.client is not None
        assert_system_consistent(
            self.client,
            self.api,
            canary=self.canary,
            logs=self.procs.logs(),
            watch=self.watch,
        )


@pytest.fixture
def scenario(api: FakeApi, transactional_db: None) -> Iterator[Scenario]:
    canary = f"canary-{uuid.uuid4().hex}"
    api.auth(bearer=canary)
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    marker_dir = settings.VAR_DIR / "fault-markers" / queue
    marker_dir.mkdir(parents=True, exist_ok=True)
    procs = Procs(marker_dir)
    s = Scenario(api=api, procs=procs, canary=canary, queue=queue)
    try:
        yield s
    finally:
        if s.watch is not None:
            s.watch.stop()
        procs.close()
        _purge(queue)
        shutil.rmtree(marker_dir, ignore_errors=True)


def _purge(queue: str) -> None:
    """Drop what a killed worker left in the test's own queue (never another queue)."""
    with contextlib.suppress(Exception), current_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
