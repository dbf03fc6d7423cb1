"""Sync plugins: classes with a manifest, discovered from `sync_plugins` modules, that get
services (db, cache, scheduler, worker, registry, gateway) only as far as an operator
granted them. See docs/guides/plugin.md and plugins/reference/data_syncer.py."""

from .base import Plugin, cron, interval, service, task
from .errors import (
    JobConflict,
    PluginDisabled,
    PluginError,
    PluginPermissionDenied,
    UnknownAction,
    UnknownPlugin,
    UnknownService,
    UnknownTable,
    UnknownTask,
    WorkerUnavailable,
)
from .manifest import Manifest, Permission
from .registry import register, register_table

__all__ = [
    "JobConflict",
    "Manifest",
    "Permission",
    "Plugin",
    "PluginDisabled",
    "PluginError",
    "PluginPermissionDenied",
    "UnknownAction",
    "UnknownPlugin",
    "UnknownService",
    "UnknownTable",
    "UnknownTask",
    "WorkerUnavailable",
    "cron",
    "interval",
    "register",
    "register_table",
    "service",
    "task",
]
