"""The one check every service makes on every call: does a granted PluginPermission of this
plugin cover (resource, action)? Fail-closed: no row, a requested or refused row, a
database error — all mean no. A denial is logged at once and written to the audit log
(and onto the run it happened in); inside a transaction that may roll back, the audit row
is written when the run's boundary ends (see host.run_scope)."""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar

from django.db import transaction

from syncers.models.plugins import PluginAuditEntry, PluginPermission

from .errors import PluginPermissionDenied
from .manifest import covers

log = logging.getLogger(__name__)

# The PluginRun the current code executes for (set by host.run_scope), so denials land on it.
current_run: ContextVar[int | None] = ContextVar("plugin_current_run", default=None)
_pending = threading.local()


def allowed(plugin: str, resource: str, action: str) -> bool:
    rows = PluginPermission.objects.filter(
        plugin__name=plugin, state=PluginPermission.State.GRANTED
    ).values_list("resource", "actions", "plugin__mode")
    for pattern, actions, mode in rows:
        if mode == "restricted" and "*" in pattern:
            continue  # refused at save time too; this guards rows written around the model
        if covers(pattern, actions, resource, action):
            return True
    return False


def require(plugin: str, resource: str, action: str) -> None:
    """Raise PluginPermissionDenied (and record it) unless a grant covers the use."""
    if allowed(plugin, resource, action):
        return
    denied = PluginPermissionDenied(plugin, resource, action)
    log.warning("%s", denied)
    _queue(denied)
    raise denied


def _queue(denied: PluginPermissionDenied) -> None:
    entries = _entries()
    entries.append((denied, current_run.get()))
    if transaction.get_connection().in_atomic_block:
        # Written if this transaction commits, otherwise by the run boundary afterwards.
        transaction.on_commit(flush_denials)
    else:
        flush_denials()


def _entries() -> list[tuple[PluginPermissionDenied, int | None]]:
    if not hasattr(_pending, "entries"):
        _pending.entries = []
    return _pending.entries


def flush_denials() -> int:
    """Write queued denials to the audit log (outside any rolled-back transaction)."""
    entries, written = _entries(), 0
    while entries:
        denied, run_id = entries.pop(0)
        PluginAuditEntry.objects.create(
            plugin=denied.plugin,
            event="denied",
            resource=denied.resource[:200],
            action=denied.action,
            run_id=run_id,
            detail=str(denied),
        )
        written += 1
    return written


def audit(plugin: str, event: str, *, actor: str = "", resource: str = "", detail: str = "") -> None:
    """Record an operator decision or a lifecycle event."""
    PluginAuditEntry.objects.create(
        plugin=plugin, event=event, actor=actor[:150], resource=resource[:200], detail=detail
    )
