"""Logs read once: a worker writes each line once (not once by our handler and again by
Celery's), and a successful command keeps INFO lines off stderr."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from syncers.models import SyncClient

from .processes import Service, child_env


@pytest.mark.django_db(transaction=True)
def test_a_worker_writes_each_log_line_once(worker: Service) -> None:
    log = worker.log()
    lines = [line for line in log.splitlines() if "plugin gateway 1.0.0 loaded" in line]
    assert len(lines) == 1, lines
    assert "ready." in log  # Celery's own lines come through the same handler


@pytest.mark.django_db(transaction=True)
def test_a_successful_command_writes_no_info_lines_to_stderr(make_client) -> None:
    client: SyncClient = make_client()
    client.state = SyncClient.State.PAUSED
    client.save()
    env = child_env()
    env.pop("SYNC_LOG_LEVEL", None)

    done = subprocess.run(
        [sys.executable, "manage.py", "sync_resume", client.name],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert "resumed" in done.stdout
    client.state = SyncClient.State.PAUSED
    client.save()
    verbose = subprocess.run(
        [sys.executable, "manage.py", "sync_resume", client.name],
        cwd=settings.BASE_DIR, env={**env, "SYNC_LOG_LEVEL": "INFO"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (
        f"INFO syncers.services: client {client.name} resumed by" in verbose.stderr
    )  # asked for: shown once
    assert verbose.stderr.count("resumed by") == 1
