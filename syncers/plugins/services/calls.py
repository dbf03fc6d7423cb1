"""The registry service: call another plugin's service by name. The caller needs
`plugin:<name>` (execute) on every call; the callee then runs with its own context and
grants, so a plugin cannot borrow what only the other was granted.

The host (syncers.plugins.host) loads the callee: it sits above the context that holds
this service, so it hands its loader down (PluginContext(name, load=...)) rather than this
module importing it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncers.plugins.errors import PluginError, UnknownService
from syncers.plugins.grants import require
from syncers.plugins.registry import plugin_services

if TYPE_CHECKING:
    from syncers.plugins.base import Plugin

Loader = Callable[[str], "Plugin"]


class RegistryService:
    def __init__(self, plugin: str, load: Loader | None = None) -> None:
        self.plugin = plugin
        self._load = load

    def services(self, plugin: str) -> list[str]:
        """The service names another plugin offers."""
        require(self.plugin, f"plugin:{plugin}", "execute")
        return sorted(plugin_services(plugin))

    def call(self, plugin: str, service: str, **kwargs: Any) -> Any:
        require(self.plugin, f"plugin:{plugin}", "execute")
        method = plugin_services(plugin).get(service)
        if method is None:
            offered = ", ".join(sorted(plugin_services(plugin))) or "none"
            raise UnknownService(f"plugin {plugin!r} offers no service {service!r} (offers: {offered})")
        if self._load is None:
            raise PluginError(
                f"plugin {self.plugin!r} has no plugin host to load {plugin!r} (its context was not made by the host)"
            )
        return getattr(self._load(plugin), method)(**kwargs)
