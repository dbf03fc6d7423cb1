"""Generic REST source: a paginated JSON endpoint, read one page at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from gateway.errors import PayloadError
from syncers.registry import FetchContext, Page, SyncHandler

MAX_PAGE_SIZE = 10_000


class RestPageNumberHandler(SyncHandler):
    """`GET path?page=N&per_page=K` until a short or empty page. Resumes at `next_page`."""

    name = "rest"
    label = "REST (page-number pagination)"
    default_config = {
        "path": "/items",
        "records_path": "data",
        "id_field": "id",
        "page_param": "page",
        "page_size_param": "per_page",
        "page_size": 100,
        "start_page": 1,
        "params": {},
        "max_pages": 100_000,
    }

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            raise ValidationError("The source config must be a JSON object.")
        unknown = set(config) - set(self.default_config)
        if unknown:
            raise ValidationError(f"Unknown source option(s): {', '.join(sorted(unknown))}.")
        cfg = {**self.default_config, **config}
        errors = []
        for key in ("path", "id_field", "page_param"):
            if not isinstance(cfg[key], str) or not cfg[key].strip():
                errors.append(f"'{key}' must be a non-empty string.")
        for key in ("records_path", "page_size_param"):
            if not isinstance(cfg[key], str):
                errors.append(f"'{key}' must be a string (empty for none).")
        for key, low, high in (
            ("page_size", 1, MAX_PAGE_SIZE),
            ("start_page", 0, None),
            ("max_pages", 1, None),
        ):
            value = cfg[key]
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < low
                or (high and value > high)
            ):
                errors.append(f"'{key}' must be an integer from {low}" + (f" to {high}." if high else " up."))
        if not isinstance(cfg["params"], dict):
            errors.append("'params' must be a JSON object of extra query parameters.")
        if errors:
            raise ValidationError(errors)
        return cfg

    def pages(self, ctx: FetchContext) -> Iterator[Page]:
        cfg = ctx.config
        number = int((ctx.checkpoint or {}).get("next_page", cfg["start_page"]))
        size = cfg["page_size"]
        previous_marker = None
        for _ in range(cfg["max_pages"]):
            params = {**cfg["params"], cfg["page_param"]: number}
            if cfg["page_size_param"]:
                params[cfg["page_size_param"]] = size
            body = ctx.session.get_json(cfg["path"], params=params)
            records = records_at(body, cfg["records_path"], number)
            marker = _page_marker(records)
            if marker is not None and marker == previous_marker:
                raise PayloadError(
                    f"page {number} repeats page {number - 1}: the API seems to ignore "
                    f"'{cfg['page_param']}' (pagination loop stopped)"
                )
            previous_marker = marker
            is_last = len(records) < size
            yield Page(number, records, {"next_page": number + 1}, is_last)
            if is_last:
                return
            number += 1
        raise PayloadError(f"stopped after max_pages={cfg['max_pages']} pages without a last page")


def records_at(body: Any, path: str, page: int) -> list[Any]:
    """Follow a dotted path to the page's list of records; anything else is a bad page."""
    node = body
    for part in filter(None, path.split(".")):
        if not isinstance(node, dict) or part not in node:
            raise PayloadError(f"page {page}: no '{path}' in the answer")
        node = node[part]
    if not isinstance(node, list):
        raise PayloadError(f"page {page}: '{path or 'body'}' is {type(node).__name__}, not a list")
    return node


def _page_marker(records: list[Any]) -> tuple[int, str, str] | None:
    # Cheap identity of a page: an API that ignores the page parameter returns the same one.
    if not records:
        return None
    return (len(records), repr(records[0])[:200], repr(records[-1])[:200])
