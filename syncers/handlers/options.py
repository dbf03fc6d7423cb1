"""The generic REST source's options: the checks its schema (rest_schema.REST_SCHEMA) cannot
express — relations between options — with errors that name the option."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from syncers.handler_options import clean_options, is_integer

from .incremental import clean_incremental
from .mapping import clean_fields
from .rest_schema import MAX_PAGE_SIZE, REST_SCHEMA

__all__ = ["COMMON", "DEFAULT_OFFSET_OVERLAP", "MAX_PAGE_SIZE", "REST_SCHEMA", "clean_rest_config"]

# Records each offset request re-reads before its position (see pagination.Offset): it covers
# this many deletions between two requests without asking again. Capped at half a page.
DEFAULT_OFFSET_OVERLAP = 5

# Options every style shares, with their defaults (the handler's `default_config`).
COMMON: dict[str, Any] = {
    o.name: o.default
    for o in REST_SCHEMA.options
    if not o.styles and not o.style_defaults and o.default is not None and o.name != "pagination"
}


def clean_rest_config(config: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The full config for one style: the operator's values over the handler's `defaults`
    (common options and `pagination`) over the style's defaults (REST_SCHEMA).
    ValidationError lists every problem, each naming its option."""
    cfg, errors = clean_options(REST_SCHEMA, config, defaults)
    style = cfg["pagination"]
    if style == "offset" and "offset_overlap" not in cfg:
        size = cfg["page_size"]  # the default fits small pages: each request must reach new records
        cfg["offset_overlap"] = min(DEFAULT_OFFSET_OVERLAP, size // 2) if is_integer(size) else 0
    if "offset_overlap" in cfg:
        errors += _check_overlap(cfg)
    if _text(cfg["id_field"]) and "." in cfg["id_field"]:
        errors.append(
            "'id_field' names a top-level field of the stored record; map a nested id with 'fields'."
        )
    fields, field_errors = clean_fields(cfg.get("fields"))
    errors += field_errors
    if fields and isinstance(cfg["id_field"], str) and cfg["id_field"] not in fields:
        errors.append(
            f"'id_field' is read from the mapped record, but '{cfg['id_field']}' is not a target in 'fields'."
        )
    incremental, inc_errors = clean_incremental(cfg.get("incremental"), fields)
    errors += inc_errors + _check_version_field(cfg, fields) + _check_total_path(cfg)
    if errors:
        raise ValidationError(errors)
    for key, value in (("fields", fields), ("incremental", incremental)):
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def _check_overlap(cfg: Mapping[str, Any]) -> list[str]:
    overlap, size = cfg["offset_overlap"], cfg["page_size"]
    if not is_integer(overlap) or overlap < 0:
        return ["'offset_overlap' must be an integer from 0 up (0 switches the overlap off)."]
    if is_integer(size) and overlap >= size:
        return [
            f"'offset_overlap' must be smaller than 'page_size' ({size}): "
            "each request has to reach records past the ones it reads again."
        ]
    return []


def _check_version_field(cfg: Mapping[str, Any], fields: Mapping[str, Any] | None) -> list[str]:
    """`version_field`: a dotted path into the stored record (null: arrival order even in
    incremental mode); see syncers.versions."""
    if "version_field" not in cfg or cfg["version_field"] is None:
        return []
    path = cfg["version_field"]
    if not _text(path) or any(not part.strip() for part in path.split(".")):
        return [
            '\'version_field\' must be a dotted path like "updated_at" or "meta.version" '
            "(or null to keep the last copy served)."
        ]
    if fields and path.split(".")[0] not in fields:
        return [
            f"'version_field' is read from the mapped record, but '{path.split('.')[0]}' "
            "is not a target in 'fields'."
        ]
    return []


def _check_total_path(cfg: Mapping[str, Any]) -> list[str]:
    """`total_path`: where the body reports the listing's size (see handlers.totals); the
    schema already refused it for styles other than page and offset."""
    if "total_path" not in cfg:
        return []
    path = cfg["total_path"]
    if not _text(path) or any(not part.strip() for part in path.split(".")):
        return ["'total_path' must be a dotted path like \"meta.total\" to the listing's size in the body."]
    return []


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
