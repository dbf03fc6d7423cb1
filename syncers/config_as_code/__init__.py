"""Configuration as code: a whole installation declared in one YAML file (secrets only as
environment references), applied idempotently — the same file twice changes nothing — and
exported back out in the same format.

    connections:
      - name: shop-api
        base_url: https://api.example.com/v2
        auth_kind: bearer
        secret_env: SHOP_API_TOKEN        # secrets only by environment reference
    clients:
      - name: products
        connection: shop-api
        handler: rest
        config: {path: /products, page_size: 100}
        schedules:
          - {cron: "*/15 * * * *", timezone: Europe/Berlin}
          - {every: 6, period: hours, enabled: false}
          - {every: 1, period: hours, start: "2026-12-07T09:00:00+01:00", max_runs: 5}
          - {cron: "0 18 * * *", end: "2026-12-13T18:00:00+01:00"}
          - {at: "2026-12-01T03:00:00+01:00"}
    notifications:                        # see .notifications
      - {email: oncall@example.com, level: error}
    plugins:                              # see .plugins
      - name: data_syncer
        permissions: [{resource: service:scheduler, actions: write}]
    jobs:                                 # see .jobs
      - {id: refresh_counts, func: catalog.refresh_category_counts, trigger: interval, hours: 1}

A declared client's schedules are exactly the listed ones; so are the notification routes and
a declared plugin's decided permissions when those keys are present. `prune` also deletes
connections, clients and static jobs the file no longer declares — only of sections the file has, and more
than PRUNE_CONFIRM_ABOVE objects only when confirmed."""

from __future__ import annotations

from typing import Any

import yaml
from django.db import transaction

from .clients import apply_client, apply_connection, export_clients, export_connections, prune
from .common import ConfigError, Plan, items
from .jobs import apply_jobs, export_jobs
from .notifications import apply_notifications, export_notifications
from .plugins import apply_plugins, export_plugins

__all__ = ["ConfigError", "Plan", "apply_config", "dump_yaml", "export_config", "load_file"]

SECTIONS = ("connections", "clients", "notifications", "plugins", "jobs")


def load_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{path}: invalid YAML at {where}: {exc.problem}") from None
    if not isinstance(data, dict) or set(data) - set(SECTIONS):
        raise ConfigError(f"{path}: the top level must be a mapping with any of {', '.join(SECTIONS)}")
    return data


# A prune deleting more objects than this needs confirming (sync_apply --yes).
PRUNE_CONFIRM_ABOVE = 3


def apply_config(
    data: dict[str, Any], *, dry_run: bool = False, prune_undeclared: bool = False, confirmed: bool = False
) -> Plan:
    """Make the database match the declaration. Everything or nothing: one transaction."""
    plan = Plan()
    with transaction.atomic():
        connections = {
            c["name"]: apply_connection(c, i, plan) for i, c in enumerate(items(data, "connections"))
        }
        clients = [apply_client(c, i, plan, connections) for i, c in enumerate(items(data, "clients"))]
        if prune_undeclared:
            gone = prune(
                clients if "clients" in data else None,
                connections if "connections" in data else None,
                plan,
            )
            if gone > PRUNE_CONFIRM_ABOVE and not (confirmed or dry_run):
                raise ConfigError(
                    f"--prune would delete {gone} clients/connections; see them with --dry-run, "
                    "then confirm with --yes"
                )
        apply_notifications(data, plan)
        apply_plugins(data, plan)
        apply_jobs(data, plan, prune_undeclared=prune_undeclared)
        if dry_run:
            transaction.set_rollback(True)
    return plan


def export_config() -> dict[str, Any]:
    """The current setup in the apply format (secrets as env references, never values)."""
    return {
        "connections": export_connections(),
        "clients": export_clients(),
        "notifications": export_notifications(),
        "plugins": export_plugins(),
        "jobs": export_jobs(),
    }


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
