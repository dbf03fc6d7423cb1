"""Every process refuses to start on a failing Django system check (docs/concepts/security.md): the
Celery worker and beat and a WSGI server loading xcoresite.wsgi too, not only manage.py
commands. Started as real processes with no encryption key and DEBUG off (check gateway.E001)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from xcoresite.devstack import celery_command, worker_command

from .processes import ROOT, child_env, wait_until

COMMANDS = {
    "worker": lambda: worker_command(
        "celery",
        1,
        "-l",
        "INFO",
        "-n",
        f"checks-{uuid.uuid4().hex[:6]}@%h",
        "--without-gossip",
        "--without-mingle",
    ),
    "beat": lambda: celery_command("beat", "-l", "INFO", "--pidfile=", "--max-interval", "1"),
}
# What a started process prints after the checks would have run. Beat logs "beat: Starting"
# before them and then only its ticks, so for beat the test waits for it to exit.
READY = {"worker": " ready.", "beat": "Scheduler: Sending due task"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["worker", "beat"])
def test_a_celery_process_with_a_failing_system_check_exits_with_the_checks_message(role: str) -> None:
    log_path = settings.VAR_DIR / "logs" / f"checks-{role}-{uuid.uuid4().hex[:8]}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            COMMANDS[role](),
            cwd=ROOT,
            env=child_env(GATEWAY_ENCRYPTION_KEYS=""),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: process.poll() is not None or READY[role] in log_path.read_text(errors="replace"),
            timeout=30,
            what=f"celery {role} to exit or start",
        )
        output = log_path.read_text(errors="replace")
        assert process.poll() is not None, f"celery {role} started despite gateway.E001:\n{output[-2000:]}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    assert process.returncode == 1
    assert f"celery {role} refuses to start: System check identified some issues:" in output
    assert "(gateway.E001) GATEWAY_ENCRYPTION_KEYS is empty and DEBUG is off" in output


def test_the_wsgi_application_with_a_failing_system_check_refuses_to_load() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import xcoresite.wsgi"],
        cwd=ROOT,
        env=child_env(GATEWAY_ENCRYPTION_KEYS=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode != 0, "a WSGI server would have served with gateway.E001"
    assert "the web server (xcoresite.wsgi) refuses to start: System check identified" in loaded.stderr
    assert "(gateway.E001)" in loaded.stderr
