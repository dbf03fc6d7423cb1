"""`make run`: the whole system on one machine — fake API, web admin, Celery worker and beat —
started as child processes, stopped together on Ctrl-C. Configuration comes from the
environment exactly as in production; with nothing set it runs on the embedded defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_ADDR = os.environ.get("XCORESITE_WEB", "127.0.0.1:8000")
FAKEAPI_PORT = os.environ.get("FAKEAPI_PORT", "8765")


def celery_command(role: str, *options: str) -> list[str]:
    """How every part of the project starts Celery (make run, tests, bench): one place."""
    return [sys.executable, "-m", "celery", "-A", "xcoresite", role, *options]


def worker_command(queues: str, concurrency: int, *options: str) -> list[str]:
    return celery_command("worker", "-Q", queues, "-c", str(concurrency), "-P", "prefork", *options)


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C and SIGTERM both stop every child (SIGINT is ignored when started in the background).
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    env = {
        **os.environ,
        "FAKEAPI_URL": os.environ.get("FAKEAPI_URL", f"http://127.0.0.1:{FAKEAPI_PORT}"),
    }
    py = sys.executable
    log_dir = ROOT / "var" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        "fakeapi": [py, "-m", "fakeapi", "--port", FAKEAPI_PORT, "--records", "2500"],
        "web": [py, "manage.py", "runserver", WEB_ADDR, "--noreload"],
        "worker": worker_command("celery,sync", 2, "-l", "INFO"),
        "beat": celery_command("beat", "-l", "INFO", "--pidfile="),
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, cmd in commands.items():
            log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the child)
            procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        seed = subprocess.run(
            [py, "manage.py", "sync_seed_demo", "--run-now"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        sys.stdout.write(seed.stdout + seed.stderr)
        sys.stdout.write(
            f"\nxcoresite is running:\n  admin   http://{WEB_ADDR}/admin/  (login above)\n"
            f"  fake API {env['FAKEAPI_URL']}/products\n  logs    {log_dir}/{{web,worker,beat,fakeapi}}.log\n"
            "The demo client's first run appears under Sync runs within a minute. Ctrl-C stops everything.\n"
        )
        sys.stdout.flush()
        return _watch(procs)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)


def _watch(procs: dict[str, subprocess.Popen[bytes]]) -> int:
    while True:
        for name, proc in procs.items():
            if proc.poll() is not None:
                sys.stderr.write(f"{name} exited with {proc.returncode}; see var/logs/{name}.log\n")
                return 1
        time.sleep(0.5)


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    # Signal each main pid (not the process group): Celery's warm shutdown can hang otherwise.
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
