"""Which plugins, plugin tasks and plugin-reachable tables exist in this process.

Built-in plugins register exactly the way a third-party app does: a `sync_plugins` module in
any installed app, found by autodiscovery at start-up (like `sync_handlers` for handlers),
calls `register(PluginClass)` and `register_table(Model)`. Nothing here touches the database.
"""

from __future__ import annotations

from django.db import models
from django.utils.module_loading import autodiscover_modules

from .base import JobSpec, Plugin, TaskSpec, declared
from .errors import UnknownPlugin, UnknownTable, UnknownTask

_plugins: dict[str, type[Plugin]] = {}
_tasks: dict[str, TaskSpec] = {}
_services: dict[str, dict[str, str]] = {}
_tables: dict[str, type[models.Model]] = {}


def register(plugin_cls: type[Plugin]) -> type[Plugin]:
    """Class decorator (or plain call): make a plugin known by its manifest name."""
    manifest = getattr(plugin_cls, "manifest", None)
    if manifest is None:
        raise ValueError(f"{plugin_cls.__name__} has no manifest")
    manifest.check()
    existing = _plugins.get(manifest.name)
    if existing is not None and existing is not plugin_cls:
        raise ValueError(f"plugin name {manifest.name!r} is already taken by {existing.__qualname__}")
    tasks = {}
    for method, (name, atomic) in declared(plugin_cls, "_plugin_task").items():
        owner = _tasks.get(name)
        if owner is not None and owner.plugin != manifest.name:
            raise ValueError(f"task name {name!r} is already declared by plugin {owner.plugin!r}")
        tasks[name] = TaskSpec(name, manifest.name, method, atomic)
    _plugins[manifest.name] = plugin_cls
    _tasks.update(tasks)
    _services[manifest.name] = {
        svc: method for method, svc in declared(plugin_cls, "_plugin_service").items()
    }
    return plugin_cls


def register_table(model: type[models.Model]) -> type[models.Model]:
    """Open a model's table to plugins' db service (still only as far as each is granted
    `db.<table>`). Framework tables are never registered, so no grant can reach them."""
    _tables[model._meta.db_table] = model
    return model


def plugin_class(name: str) -> type[Plugin]:
    try:
        return _plugins[name]
    except KeyError:
        raise UnknownPlugin(name, plugin_names()) from None


def plugin_names() -> list[str]:
    return sorted(_plugins)


def plugin_services(name: str) -> dict[str, str]:
    """Service name → method name of a registered plugin."""
    plugin_class(name)
    return dict(_services.get(name, {}))


def plugin_jobs(name: str) -> list[JobSpec]:
    return list(declared(plugin_class(name), "_plugin_job").values())


def task_spec(name: str) -> TaskSpec:
    try:
        return _tasks[name]
    except KeyError:
        known = ", ".join(sorted(_tasks)) or "none"
        raise UnknownTask(f"unknown plugin task {name!r} (known: {known})") from None


def task_names() -> list[str]:
    return sorted(_tasks)


def table_model(name: str) -> type[models.Model]:
    try:
        return _tables[name]
    except KeyError:
        known = ", ".join(sorted(_tables)) or "none"
        raise UnknownTable(f"table {name!r} is not open to plugins (open: {known})") from None


def autodiscover() -> None:
    autodiscover_modules("sync_plugins")
