"""Operator verbs on connections, shared by the admin and commands."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from .errors import GatewayError, PayloadError
from .models import Connection
from .session import session_for


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    status: int | None
    elapsed: float
    error_kind: str
    message: str

    def __str__(self) -> str:
        ms = f"{self.elapsed * 1000:.0f} ms"
        if self.error_kind:
            return f"{self.error_kind}: {self.message} (after {ms})"
        return f"HTTP {self.status} in {ms}" + (f"; {self.message}" if self.message else "")


def connection_test(*, connection: Connection, path: str = "/") -> ConnectionTestResult:
    """One GET (no retries) through the connection's full policy; writes nothing of its own."""
    started = time.monotonic()
    try:
        with session_for(connection, retry=False) as session:
            response = session.get(path or "/")
    except GatewayError as exc:
        status = exc.status
        return ConnectionTestResult(False, status, time.monotonic() - started, type(exc).__name__, str(exc))
    note = ""
    try:
        response.json  # noqa: B018  (parsing is the check)
    except PayloadError as exc:
        note = f"the answer is not usable JSON ({exc})"
    return ConnectionTestResult(not note, response.status, response.elapsed, "", note)


def connection_pause(*, connection: Connection, reason: str, until: datetime | None = None) -> None:
    """Pause every sync client using this connection (they record runs as skipped)."""
    if not reason.strip():
        raise ValueError("a pause needs a reason")
    Connection.objects.filter(pk=connection.pk).update(
        paused=True, pause_reason=reason.strip()[:500], paused_until=until
    )


def connection_resume(*, connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(paused=False, pause_reason="", paused_until=None)
