"""Validators a model's clean() applies to a value whose rules another package owns: a client's
destination (syncers.destinations.config), a plugin's config and a plugin grant
(syncers.plugins). The owner registers its function here with `provides` when it is imported,
and SyncersConfig.ready() imports each owner, so the models import nothing above them (the
layers contract in pyproject.toml) and still validate every save through full_clean()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

F = TypeVar("F", bound=Callable[..., Any])

DESTINATION = "destination"
PLUGIN_CONFIG = "plugin config"
PLUGIN_GRANT = "plugin grant"

_validators: dict[str, Callable[..., Any]] = {}


def provides(name: str) -> Callable[[F], F]:
    """Register the decorated function as the validator for `name`."""

    def register(function: F) -> F:
        _validators[name] = function
        return function

    return register


def validator(name: str) -> Callable[..., Any]:
    """The registered validator for `name`; a missing one is a wiring error, never a skipped check."""
    try:
        return _validators[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"no validator for {name!r} is registered: SyncersConfig.ready() imports its owner"
        ) from None
