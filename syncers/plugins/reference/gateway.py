"""The `gateway` sample plugin: offers the service `fetch_raw_data`, which reads a
paginated JSON listing from a gateway connection it was granted (`gateway:<name>`)."""

from __future__ import annotations

from typing import Any

from syncers.plugins.base import Plugin, service
from syncers.plugins.errors import PluginError
from syncers.plugins.manifest import Manifest, Permission


class GatewayPlugin(Plugin):
    manifest = Manifest(
        name="gateway",
        version="1.0.0",
        description="Fetches raw items from a gateway connection (page-number pagination).",
        mode="trusted",
        permissions=(Permission("gateway:*", "read"),),
        config_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_pages": {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 1000},
                "max_items": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 100_000},
            },
        },
    )

    @service("fetch_raw_data")
    def fetch_raw_data(
        self,
        *,
        connection: str,
        path: str,
        records_path: str = "data",
        page_size: int = 100,
        page_param: str = "page",
        size_param: str = "per_page",
    ) -> list[Any]:
        """Every item of the listing, page after page until a short page."""
        cfg = self.ctx.config
        items: list[Any] = []
        with self.ctx.gateway.session(connection) as session:
            for page in range(1, cfg["max_pages"] + 1):
                body = session.get_json(path, params={page_param: page, size_param: page_size})
                batch = _records(body, records_path, page)
                items.extend(batch)
                if len(items) > cfg["max_items"]:
                    raise PluginError(f"fetch_raw_data: more than max_items={cfg['max_items']} items")
                if len(batch) < page_size:
                    return items
        raise PluginError(f"fetch_raw_data: no last page within max_pages={cfg['max_pages']}")


def _records(body: Any, path: str, page: int) -> list[Any]:
    """The list at a dotted path of the answer ("data", "result.items"; "" for the body)."""
    node = body
    for part in filter(None, path.split(".")):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, list):
        raise PluginError(f"fetch_raw_data: page {page} has no list at {path or 'the top'!r}")
    return node
