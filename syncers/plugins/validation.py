"""Save-time validation the plugin models run (InstalledPlugin.clean), also used by the
operator verbs and config as code. It registers with syncers.validators, through which the
model calls it without importing the plugin framework."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from syncers.validators import PLUGIN_CONFIG, provides

from .errors import UnknownPlugin
from .registry import plugin_class
from .schema import SchemaError, validate


@provides(PLUGIN_CONFIG)
def validate_plugin_config(name: str, config: Any) -> dict[str, Any]:
    """The config with defaults filled in; ValidationError on the `config` field, one message
    per problem, each naming its option ("page_size: must be at most 1000")."""
    try:
        schema = plugin_class(name).manifest.config_schema
    except UnknownPlugin as exc:
        raise ValidationError({"config": [f"{exc}: its code is not installed."]}) from None
    try:
        return validate(schema, config)
    except SchemaError as exc:
        raise ValidationError({"config": exc.messages()}) from None
