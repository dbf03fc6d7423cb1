"""The REST source's options: rendered from its declared schema (syncers.handlers.rest_schema
via syncers.handler_options.markdown_table), plus the registered
handlers and the defaults each one changes."""

from __future__ import annotations

import json


def render() -> str:
    from syncers.handler_options import markdown_table
    from syncers.handlers.rest_schema import REST_SCHEMA

    return (
        "# Handler options (REST source)\n\n"
        "The built-in handler `rest` reads its options from the client's source config; the admin "
        "shows them as form fields (with an *Edit as JSON* toggle). Generated from "
        "`syncers/handlers/rest_schema.py`: missing options take these defaults; an unknown option, "
        "one that does not apply to the client's `pagination`, or a bad value is refused at the "
        "config field with a message naming it.\n\n" + markdown_table(REST_SCHEMA) + "\n\n" + _handlers()
    )


def _handlers() -> str:
    """The registered handlers built on the REST source, with the defaults they change."""
    from syncers.handlers.rest import RestHandler
    from syncers.registry import get_handler, handler_choices

    lines = ["## Registered handlers\n", "| Handler | Label | Defaults it changes |", "|---|---|---|"]
    for name, label in handler_choices():
        handler = get_handler(name)
        if not isinstance(handler, RestHandler):
            lines.append(f"| `{name}` | {label} | its own options (not the REST source's) |")
            continue
        changed = {k: v for k, v in handler.default_config.items() if RestHandler.default_config.get(k) != v}
        shown = ", ".join(f"`{k}`: `{json.dumps(v)}`" for k, v in changed.items()) or "none"
        lines.append(f"| `{name}` | {label} | {shown} |")
    return "\n".join(lines) + "\n"
