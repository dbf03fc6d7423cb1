"""Autodiscovered with every app's sync_handlers: registers the demo's destination hooks."""

from . import sync  # noqa: F401  (the decorators register the hooks)
