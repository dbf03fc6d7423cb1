"""Errors a plugin, its caller or an operator may see. Every message is one clear line."""

from __future__ import annotations


class PluginError(Exception):
    """Base class: something about a plugin went wrong (message is for operators)."""


class PluginPermissionDenied(PluginError):
    """A plugin used a service it was not granted (fail-closed: no grant, no use)."""

    def __init__(self, plugin: str, resource: str, action: str) -> None:
        self.plugin, self.resource, self.action = plugin, resource, action
        super().__init__(f"permission denied: plugin {plugin!r} may not {action} {resource!r} (no grant)")


WAITING_FOR_GRANT = "waiting for an operator to grant"


def waiting_text(exc: PluginPermissionDenied) -> str:
    """What a plugin that cannot start for want of a grant is doing: not an error, a wait."""
    return f"{WAITING_FOR_GRANT} {exc.action} on {exc.resource!r} (Plugin permissions)"


def last_error_text(last_error: str) -> str:
    """A plugin's recorded problem as operators read it: a wait for a grant as it is, anything
    else as "last error: ..." ("" when there is none)."""
    if not last_error or last_error.startswith(WAITING_FOR_GRANT):
        return last_error
    return f"last error: {last_error}"


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
