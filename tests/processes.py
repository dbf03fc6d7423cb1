"""Real Celery worker and beat processes for the tests, pointed at the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from xcoresite.devstack import celery_command, worker_command

ROOT = Path(__file__).resolve().parent.parent
TEST_LEASE_TTL = 6.0
TEST_REDISPATCH_AFTER = 3.0
TEST_IDLE_TRANSACTION_TIMEOUT = 25.0


def database_url() -> str:
    """The URL of the database the test process uses (the test database once set up)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "XCORESITE_VAR_DIR": str(settings.VAR_DIR),
        "SYNC_LEASE_TTL": str(TEST_LEASE_TTL),
        "SYNC_REDISPATCH_AFTER": str(TEST_REDISPATCH_AFTER),
        "SYNC_RECONCILE_EVERY": "2",
        # Above the slowest healthy merge of the fault tests (a 15 s batch of 0.5 s records).
        "SYNC_IDLE_TRANSACTION_TIMEOUT": str(TEST_IDLE_TRANSACTION_TIMEOUT),
        **extra,
    }


class Service:
    """A child process in its own session (so it can be killed with its children by pid)."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        ready_marker: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = settings.VAR_DIR / "logs" / f"{name}-{uuid.uuid4().hex[:8]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env or child_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: ready_marker in self.log() or self.process.poll() is not None,
            timeout=60,
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{self.log()[-3000:]}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """Power loss: SIGKILL the main process and every child, by process group id."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        """Warm shutdown through the main pid, as a deploy would do it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def start_worker(queues: str = "celery,sync", concurrency: int = 2) -> Service:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    options = ("-l", "INFO", "-n", f"{name}@%h", "--without-gossip", "--without-mingle")
    return Service(name, worker_command(queues, concurrency, *options), ready_marker=" ready.")


def start_beat() -> Service:
    cmd = celery_command("beat", "-l", "INFO", "--pidfile=", "--max-interval", "1")
    return Service("beat", cmd, ready_marker="beat: Starting")


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
