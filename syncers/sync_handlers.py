"""Registers the built-in handlers through the same hook as any plugin app."""

from .handlers.demo import DemoProductsHandler
from .handlers.rest import RestHandler
from .registry import register

register(RestHandler)
register(DemoProductsHandler)
