"""Connections, clients and their schedules: applied in the file's order, exported back."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError

from gateway.models import Connection
from syncers.models import SyncClient, SyncSchedule
from syncers.registry import get_handler
from syncers.wording import counted

from .common import ConfigError, Plan, datetime_at, messages, refuse_unknown, validated

CONNECTION_FIELDS = (
    *("base_url", "headers", "default_params", "auth_kind", "auth_name", "auth_username", "token_url"),
    *("token_scope", "connect_timeout", "read_timeout", "total_timeout", "max_body_bytes", "max_retries"),
    *("retry_budget", "rate_limit", "rate_burst", "allowed_hosts"),
)
# Schedule keys that change a declared schedule in place (the timing keys identify it).
BOUNDS = ("start", "end", "max_runs")
CONTEXT = ("params", "full")
SCHEDULE_SETTINGS = ("enabled", *BOUNDS, *CONTEXT)
CLIENT_FIELDS = (
    *("description", "handler", "config", "batch_size", "queue", "pause_durations", "max_failures"),
    *("max_duration", "notify_emails", "destination"),
)


def apply_connection(spec: dict[str, Any], index: int, plan: Plan) -> Connection:
    where = f"connections[{index}] ({spec['name']})"
    if "secret" in spec:
        raise ConfigError(f"{where}: secrets may not be written in the file; use secret_env: VARIABLE")
    refuse_unknown(spec, {"name", "secret_env", *CONNECTION_FIELDS}, where)
    conn = Connection.objects.filter(name=spec["name"]).first() or Connection(name=spec["name"])
    changed = _assign(conn, spec, CONNECTION_FIELDS)
    if env_name := spec.get("secret_env"):
        if env_name not in os.environ:
            raise ConfigError(f"{where}: missing env secret {env_name}")
        # The applier holds the secret (its environment): a moved secret counts as entered again.
        moved = conn.secret_scope_changes()
        if moved or not conn.has_secret or conn.reveal_secret() != os.environ[env_name]:
            conn.set_secret(os.environ[env_name])
            changed.append("secret")
    return _save(conn, changed, where, "connection", plan)


def apply_client(spec: dict[str, Any], index: int, plan: Plan, declared: dict[str, Connection]) -> SyncClient:
    where = f"clients[{index}] ({spec['name']})"
    refuse_unknown(spec, {"name", "connection", "schedules", *CLIENT_FIELDS}, where)
    conn = (
        declared.get(spec.get("connection", ""))
        or Connection.objects.filter(name=spec.get("connection")).first()
    )
    if conn is None:
        raise ConfigError(f"{where}: unknown connection '{spec.get('connection')}'")
    client = SyncClient.objects.filter(name=spec["name"]).first() or SyncClient(name=spec["name"])
    if "config" in spec:  # checked against the handler's options, stored as written
        try:
            spec = {**spec, "config": spec["config"] or {}}
            get_handler(spec.get("handler", client.handler)).clean_config(spec["config"])
        except ValidationError as exc:
            raise ConfigError(f"{where}: config: {messages(exc)}") from None
    changed = _assign(client, spec, CLIENT_FIELDS)
    if client.connection_id != conn.pk:
        client.connection = conn
        changed.append("connection")
    client = _save(client, changed, where, "client", plan)
    _apply_schedules(client, spec.get("schedules") or [], where, plan)
    return client


def _apply_schedules(client: SyncClient, specs: list[Any], where: str, plan: Plan) -> None:
    if not isinstance(specs, list):
        raise ConfigError(f"{where}: 'schedules' must be a list")
    existing = list(client.schedules.all())
    for i, spec in enumerate(specs):
        schedule = _schedule(client, spec, f"{where}.schedules[{i}]")
        twin = next((e for e in existing if _same_schedule(e, schedule)), None)
        if twin is None:
            validated(schedule, f"{where}.schedules[{i}]", exclude=["client", "periodic_task"])
            schedule.save()
            plan.note(f"+ schedule {client.name}: {schedule.describe()}")
            continue
        existing.remove(twin)
        changed = [f for f in SCHEDULE_SETTINGS if getattr(twin, f) != getattr(schedule, f)]
        if changed:
            for f in changed:
                setattr(twin, f, getattr(schedule, f))
            validated(twin, f"{where}.schedules[{i}]", exclude=["client", "periodic_task"])
            twin.save()
            settings = ", ".join(f"{f}={getattr(twin, f)}" for f in changed)
            plan.note(f"~ schedule {client.name}: {twin.describe()} {settings}")
    for leftover in existing:
        plan.note(f"- schedule {client.name}: {leftover.describe()}")
        leftover.delete()


def _schedule(client: SyncClient, spec: Any, where: str) -> SyncSchedule:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a schedule is a mapping with cron, every or at")
    refuse_unknown(spec, {"cron", "timezone", "every", "period", "at", "enabled", *BOUNDS, *CONTEXT}, where)
    schedule = SyncSchedule(client=client, enabled=bool(spec.get("enabled", True)))
    for key in ("start", "end"):
        if spec.get(key) is not None:
            setattr(schedule, key, datetime_at(spec[key], where, key))
    if spec.get("max_runs") is not None:
        if isinstance(spec["max_runs"], bool) or not isinstance(spec["max_runs"], int):
            raise ConfigError(
                f"{where}.max_runs: a whole number of runs (1 or more), not {spec['max_runs']!r}"
            )
        schedule.max_runs = spec["max_runs"]
    if "params" in spec:
        if not isinstance(spec["params"], dict):
            raise ConfigError(f"{where}.params: a mapping of query parameters, e.g. {{region: eu}}")
        schedule.params = spec["params"]
    if "full" in spec:
        if not isinstance(spec["full"], bool):
            raise ConfigError(f"{where}.full: true or false, not {spec['full']!r}")
        schedule.full = spec["full"]
    if "cron" in spec:
        schedule.kind, schedule.cron = SyncSchedule.Kind.CRON, str(spec["cron"])
        schedule.timezone = str(spec.get("timezone", "UTC"))
    elif "every" in spec:
        schedule.kind, schedule.every = SyncSchedule.Kind.INTERVAL, spec["every"]
        schedule.period = str(spec.get("period", "minutes"))
    elif "at" in spec:
        schedule.kind, schedule.run_at = SyncSchedule.Kind.ONCE, datetime_at(spec["at"], where, "at")
    else:
        raise ConfigError(f"{where}: say when — cron, every or at")
    return schedule


def _same_schedule(a: SyncSchedule, b: SyncSchedule) -> bool:
    keys = ("kind", "cron", "timezone", "every", "period", "run_at")
    if a.kind != b.kind:
        return False
    relevant = {"cron": ("cron", "timezone"), "interval": ("every", "period"), "once": ("run_at",)}[a.kind]
    return all(getattr(a, k) == getattr(b, k) for k in keys if k in relevant)


def _assign(obj: Any, spec: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    changed = []
    for name in names:
        if name in spec and getattr(obj, name) != spec[name]:
            setattr(obj, name, spec[name])
            changed.append(name)
    return changed


def _save(obj: Any, changed: list[str], where: str, kind: str, plan: Plan) -> Any:
    adding = obj._state.adding
    if not adding and not changed:
        return obj
    validated(obj, where)
    obj.save()
    plan.note(f"+ {kind} {obj.name}" if adding else f"~ {kind} {obj.name}: {', '.join(changed)}")
    return obj


def export_connections() -> list[dict[str, Any]]:
    """Connections in the apply format (secrets as env references, never values)."""
    connections = []
    for conn in Connection.objects.order_by("name"):
        item: dict[str, Any] = {"name": conn.name, **{f: getattr(conn, f) for f in CONNECTION_FIELDS}}
        if conn.has_secret:
            item["secret_env"] = f"{conn.name.upper().replace('-', '_')}_SECRET"
        connections.append(item)
    return connections


def export_clients() -> list[dict[str, Any]]:
    clients = []
    for client in SyncClient.objects.select_related("connection").order_by("name"):
        item: dict[str, Any] = {"name": client.name, "connection": client.connection.name}
        item |= {f: getattr(client, f) for f in CLIENT_FIELDS if f != "destination" or client.destination}
        item["schedules"] = [_export_schedule(s) for s in client.schedules.order_by("pk")]
        clients.append(item)
    return clients


def _export_schedule(schedule: SyncSchedule) -> dict[str, Any]:
    if schedule.kind == SyncSchedule.Kind.CRON:
        item: dict[str, Any] = {"cron": schedule.cron, "timezone": schedule.timezone}
    elif schedule.kind == SyncSchedule.Kind.INTERVAL:
        item = {"every": schedule.every, "period": schedule.period}
    else:
        assert schedule.run_at is not None  # SyncSchedule.clean: a one-shot needs it
        item = {"at": schedule.run_at.isoformat()}
    for key in ("start", "end"):
        if getattr(schedule, key) is not None:
            item[key] = getattr(schedule, key).isoformat()
    if schedule.max_runs is not None:
        item["max_runs"] = schedule.max_runs
    if schedule.params:
        item["params"] = schedule.params
    if schedule.full:
        item["full"] = True
    if not schedule.enabled:
        item["enabled"] = False
    return item


def prune(clients: list[SyncClient] | None, connections: dict[str, Connection] | None, plan: Plan) -> int:
    """Delete clients and (unused) connections the file no longer declares; None: the file has
    no such section, so nothing of that kind is deleted. Returns how many objects go."""
    gone = 0
    if clients is None:
        plan.note("clients not pruned: the file has no clients: section")
    else:
        for client in SyncClient.objects.exclude(pk__in=[c.pk for c in clients]):
            records = client.records.count()
            plan.note(
                f"- client {client.name} (and its {counted(records, 'synced record')}, runs and schedules)"
            )
            client.delete()
            gone += 1
    if connections is None:
        plan.note("connections not pruned: the file has no connections: section")
    else:
        for conn in Connection.objects.exclude(name__in=connections).exclude(sync_clients__isnull=False):
            plan.note(f"- connection {conn.name}")
            conn.delete()
            gone += 1
    return gone
