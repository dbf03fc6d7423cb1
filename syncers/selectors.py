"""Read-side queries shared by the admin and the commands."""

from __future__ import annotations

import time

from .models import SyncClient, SyncRun


def client_get(*, ref: str) -> SyncClient:
    """A client by name or numeric id; SyncClient.DoesNotExist says which names exist."""
    qs = SyncClient.objects.select_related("connection")
    client = qs.filter(name=ref).first() or (qs.filter(pk=int(ref)).first() if ref.isdigit() else None)
    if client is None:
        known = ", ".join(SyncClient.objects.values_list("name", flat=True)[:20]) or "none yet"
        raise SyncClient.DoesNotExist(f"unknown sync client '{ref}' (known: {known})")
    return client


def run_wait_final(*, run_id: int, timeout: float, poll: float = 0.25) -> SyncRun:
    """Poll until the run has a final status, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        run = SyncRun.objects.get(pk=run_id)
        if run.is_final:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run #{run_id} still {run.status} after {timeout:.0f}s")
        time.sleep(poll)


def run_summary(run: SyncRun) -> str:
    counts = " ".join(f"{k}={v}" for k, v in run.counts().items())
    took = f" in {run.duration:.1f}s" if run.duration is not None else ""
    error = f" error: {run.error}" if run.error else ""
    return f"run #{run.pk} of {run.client.name}: {run.status}{took} {counts}{error}"
