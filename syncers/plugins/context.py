"""What a plugin gets at run time: one context per plugin and process, holding services
that check the plugin's grants on every call (not when they are handed out, so a grant
withdrawn in the admin takes effect on the next call)."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from .config import plugin_config
from .services.cache import CacheService
from .services.calls import Loader, RegistryService
from .services.db import DbService
from .services.gateway import GatewayService
from .services.scheduler import SchedulerService
from .services.worker import WorkerService

SERVICES = ("db", "cache", "scheduler", "worker", "registry", "gateway")


class PluginContext:
    def __init__(self, plugin: str, load: Loader | None = None) -> None:
        """`load`: the host's plugin loader, for calls to other plugins' services (a context
        made without one refuses those calls)."""
        self.plugin = plugin
        self._load = load
        self.log = logging.getLogger(f"syncers.plugins.{plugin}")

    @property
    def config(self) -> dict[str, Any]:
        """The operator's config, read and validated at each use (edits apply at once)."""
        return plugin_config(self.plugin)

    @cached_property
    def db(self) -> DbService:
        return DbService(self.plugin)

    @cached_property
    def cache(self) -> CacheService:
        return CacheService(self.plugin)

    @cached_property
    def scheduler(self) -> SchedulerService:
        return SchedulerService(self.plugin)

    @cached_property
    def worker(self) -> WorkerService:
        return WorkerService(self.plugin)

    @cached_property
    def registry(self) -> RegistryService:
        return RegistryService(self.plugin, self._load)

    @cached_property
    def gateway(self) -> GatewayService:
        return GatewayService(self.plugin)

    def service(self, name: str) -> Any:
        if name not in SERVICES:
            raise KeyError(f"no plugin service {name!r} (services: {', '.join(SERVICES)})")
        return getattr(self, name)
