"""Errors a plugin, its caller or an operator may see. Every message is one clear line."""

from __future__ import annotations


class PluginError(Exception):
    """Base class: something about a plugin went wrong (message is for operators)."""


class PluginPermissionDenied(PluginError):
    """A plugin used a service it was not granted (fail-closed: no grant, no use)."""

    def __init__(self, plugin: str, resource: str, action: str) -> None:
        self.plugin, self.resource, self.action = plugin, resource, action
        super().__init__(f"permission denied: plugin {plugin!r} may not {action} {resource!r} (no grant)")


class UnknownPlugin(PluginError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"unknown plugin {name!r} (known: {', '.join(known) or 'none'})")


class UnknownAction(PluginError):
    def __init__(self, plugin: str, action: str, known: tuple[str, ...] | list[str] = ()) -> None:
        self.plugin, self.action = plugin, action
        super().__init__(
            f"plugin {plugin!r} has no action {action!r} (actions: {', '.join(known) or 'none'})"
        )


class UnknownService(PluginError):
    """Another plugin's service that does not exist."""


class UnknownTask(PluginError):
    """A task name no plugin declares."""


class UnknownTable(PluginError):
    """A table that is not open to plugins (framework tables never are)."""


class PluginDisabled(PluginError):
    def __init__(self, name: str) -> None:
        super().__init__(f"plugin {name!r} is disabled")


class JobConflict(PluginError):
    """A job id already exists and the plugin asked to fail rather than replace it."""


class WorkerUnavailable(PluginError):
    """The broker could not be reached; the task was recorded but not sent."""
