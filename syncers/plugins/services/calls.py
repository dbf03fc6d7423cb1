"""The registry service: call another plugin's service by name. The caller needs
`plugin:<name>` (execute) on every call; the callee then runs with its own context and
grants, so a plugin cannot borrow what only the other was granted."""

from __future__ import annotations

from typing import Any

from syncers.plugins.errors import UnknownService
from syncers.plugins.grants import require
from syncers.plugins.registry import plugin_services


class RegistryService:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

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
        from syncers.plugins.host import instance  # the host loads plugins; imported late (it imports us)

        return getattr(instance(plugin), method)(**kwargs)
