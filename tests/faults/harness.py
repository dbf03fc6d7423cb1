"""Processes for fault scenarios: workers and beat with per-test environment overrides, pids
of a worker's pool children, the broker this test process sends through, and waiting until a
client is quiet again."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from celery import current_app
from django.db import DatabaseError, InterfaceError, close_old_connections, connection

from syncers.models import SyncBatch, SyncClient, SyncRun
from syncers.pipeline import reconcile
from syncers.pipeline.lease import client_lease_name, leases
from tests.processes import Service, child_env, wait_until
from xcoresite.devstack import celery_command, worker_command

from .broker import queue_length


class Procs:
    """Every worker and beat a test starts; whatever is still alive at the end is killed by
    process group (after SIGCONT, in case the test left it stopped)."""

    def __init__(self, marker_dir: Path) -> None:
        self.services: list[Service] = []
        self.marker_dir = marker_dir
        self.env: dict[str, str] = {}  # overrides every process of this test gets

    def worker(self, queues: str, concurrency: int = 2, **env: str) -> Service:
        name = f"worker-{uuid.uuid4().hex[:6]}"
        options = ("-l", "INFO", "-n", f"{name}@%h", "--without-gossip", "--without-mingle")
        cmd = worker_command(queues, concurrency, *options, "--include", "tests.faults.slow_handler")
        return self._start(Service(name, cmd, " ready.", self._env(env)))

    def beat(self, scheduler: str | None = None, **env: str) -> Service:
        cmd = celery_command("beat", "-l", "INFO", "--pidfile=", "--max-interval", "1")
        if scheduler:
            cmd += ["--scheduler", scheduler]
        return self._start(Service(f"beat-{uuid.uuid4().hex[:6]}", cmd, "beat: Starting", self._env(env)))

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        return child_env(**{"FAULT_MARKER_DIR": str(self.marker_dir), **self.env, **extra})

    def _start(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def logs(self) -> list[Path]:
        return [s.log_path for s in self.services]

    def close(self) -> None:
        for service in self.services:
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.pid, signal.SIGCONT)
                    os.killpg(service.pid, signal.SIGKILL)
                service.process.wait(timeout=10)
            with contextlib.suppress(Exception):
                service._log.close()


# kombu 5.7's Redis transport, on a broker connection lost while messages are unacknowledged,
# sometimes kills the worker's consumer: Channel.close() restores the unacked messages through
# a connection that Connection.collect() has just detached (transport.client is None).
KOMBU_CLOSE_CRASH = "Unrecoverable error: AttributeError(\"'NoneType' object has no attribute 'hostname'\")"


class Supervised:
    """One worker kept running the way systemd's Restart=always or a Kubernetes deployment
    keeps it: when it exits by itself, a new one starts. `deaths` keeps why each one died."""

    def __init__(self, procs: Procs, queues: str, concurrency: int = 2, **env: str) -> None:
        self.procs, self.args, self.env = procs, (queues, concurrency), env
        self.deaths: list[str] = []
        self.current = procs.worker(*self.args, **env)

    def check(self) -> None:
        if self.current.process.poll() is not None:
            log = self.current.log()
            self.deaths.append(KOMBU_CLOSE_CRASH if KOMBU_CLOSE_CRASH in log else log[-3000:])
            self.current = self.procs.worker(*self.args, **self.env)


def pool_children(service: Service) -> list[int]:
    """Pids of a prefork worker's pool processes (the main process's children)."""
    path = Path(f"/proc/{service.pid}/task/{service.pid}/children")
    return [int(p) for p in path.read_text().split()]


def wait_for_pool(service: Service, size: int) -> list[int]:
    return wait_until(
        lambda: len(pool_children(service)) >= size and pool_children(service), timeout=30, what="pool"
    )


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    os.kill(pid, sig)


def warm_stop(service: Service, timeout: float = 90) -> float:
    """SIGTERM to the main pid (a deploy's warm shutdown); seconds until it exited."""
    start = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        service.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{service.name}: warm shutdown still running after {timeout}s") from None
    return time.monotonic() - start


@contextlib.contextmanager
def sending_through(url: str) -> Iterator[None]:
    """Make this test process's Celery app publish to `url` (a throw-away broker). Celery
    reads CELERY_BROKER_URL from the environment before its configuration, so both change;
    an explicit transport class (the embedded broker's) would win over the URL's scheme."""
    app = current_app._get_current_object()
    old_conf, old_env = app.conf.get("broker_url"), os.environ.get("CELERY_BROKER_URL")
    old_transport = app.conf.get("broker_transport")

    def switch(conf: str | None, env: str | None) -> None:
        app.conf.broker_url = conf
        app.conf.broker_transport = old_transport if conf == old_conf else None
        if env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = env
        app._pool = None
        with contextlib.suppress(AttributeError, KeyError):
            app.__dict__["amqp"]._producer_pool = None

    switch(url, url)
    try:
        yield
    finally:
        switch(old_conf, old_env)


def db_tolerant(predicate):
    """A wait_until predicate that treats a dropped database connection as "not yet"."""

    def wrapped():
        try:
            return predicate()
        except (DatabaseError, InterfaceError):
            with contextlib.suppress(Exception):
                connection.close()
            return False

    return wrapped


def is_quiet(client: SyncClient, queue: str) -> bool:
    close_old_connections()
    busy = SyncRun.objects.filter(client=client, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
    pending = SyncBatch.objects.filter(client=client, state=SyncBatch.State.PENDING)
    return (
        not busy.exists()
        and not pending.exists()
        and leases().holder(client_lease_name(client.pk)) is None
        and queue_length(queue) == 0
    )


def settle(
    client: SyncClient,
    *,
    timeout: float = 90,
    reconcile_here: bool = True,
    each_pass: Callable[[], None] | None = None,
) -> None:
    """Wait until the client is quiet: no queued or running run, no pending batch, the lease
    free and its queue empty, twice in a row a second apart. With `reconcile_here` this
    process runs the reconciler every pass, as beat would (tests without a beat process);
    `each_pass` runs before every look (e.g. a supervisor's check)."""
    queue = SyncClient.objects.values_list("queue", flat=True).get(pk=client.pk)

    def quiet_twice() -> bool:
        if each_pass is not None:
            each_pass()
        if reconcile_here:
            reconcile()
        if not is_quiet(client, queue):
            return False
        time.sleep(1)
        return is_quiet(client, queue)

    try:
        wait_until(db_tolerant(quiet_twice), timeout=timeout, interval=0.5, what="the client to be quiet")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {describe(client, queue)}") from None


def describe(client: SyncClient, queue: str) -> str:
    """What keeps a client from being quiet, for a timeout message."""
    runs = list(SyncRun.objects.filter(client=client).values_list("pk", "status", "fetch_done", "error"))
    pending = list(
        SyncBatch.objects.filter(client=client, state=SyncBatch.State.PENDING).values_list("pk", "attempts")
    )
    holder = leases().holder(client_lease_name(client.pk))
    return f"runs {runs}, pending batches {pending}, lease {holder}, queue {queue_length(queue)}"


def load_marks(marker_dir: Path) -> dict[int, list[tuple[float, int]]]:
    """pid -> [(unix time, record id)] written by the slow handler."""
    marks: dict[int, list[tuple[float, int]]] = {}
    for path in marker_dir.glob("load-*.log"):
        pid = int(path.stem.removeprefix("load-"))
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        marks[pid] = [(float(t), int(r)) for t, r in rows if r != "None"]
    return marks


def busy_loader(marker_dir: Path, candidates: list[int], within: float = 1.0) -> int | None:
    """A pid among `candidates` that marked a record in the last `within` seconds."""
    now = time.time()
    for pid, rows in load_marks(marker_dir).items():
        if pid in candidates and rows and now - rows[-1][0] < within:
            return pid
    return None
