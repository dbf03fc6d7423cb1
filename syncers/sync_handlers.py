"""Registers the built-in handlers through the same hook as any plugin app."""

from syncers.handlers.demo import DemoProductsHandler
from syncers.handlers.rest import RestHandler
from syncers.registry import register

register(RestHandler)
register(DemoProductsHandler)
