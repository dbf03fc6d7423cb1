"""The generic REST source's options: defaults per pagination style and validation with
errors that name the option (shown at the client's config field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from .incremental import clean_incremental
from .mapping import clean_fields
from .totals import STYLES as TOTAL_STYLES

MAX_PAGE_SIZE = 10_000
# Records each offset request re-reads before its position (see pagination.Offset): it covers
# this many deletions between two requests without asking again. Capped at half a page.
DEFAULT_OFFSET_OVERLAP = 5

COMMON: dict[str, Any] = {
    "path": "/items",
    "records_path": "data",
    "id_field": "id",
    "page_size": 100,
    "params": {},
    "max_pages": 100_000,
}

# Options that only make sense for one style, with that style's defaults. `page_size_param`
# is common, but its usual name differs by style.
STYLE_OPTIONS: dict[str, dict[str, Any]] = {
    "page": {"page_param": "page", "page_size_param": "per_page", "start_page": 1},
    "offset": {
        "offset_param": "offset",
        "page_size_param": "limit",
        "offset_overlap": DEFAULT_OFFSET_OVERLAP,
    },
    "cursor": {"cursor_param": "cursor", "cursor_path": "next_cursor", "page_size_param": "limit"},
    "link": {"page_size_param": "per_page"},
    "next_url": {"next_path": "next", "page_size_param": "limit"},
}
OPTIONAL = ("fields", "incremental", "version_field", "total_path")  # absent unless set
STYLE_ONLY = {k for opts in STYLE_OPTIONS.values() for k in opts} - {"page_size_param"}
KNOWN = {"pagination", *COMMON, *STYLE_ONLY, "page_size_param", *OPTIONAL}


def clean_rest_config(config: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The full config for one style: the operator's values over the handler's `defaults`
    (common options and `pagination`) over the style's defaults. ValidationError lists every
    problem, each naming its option."""
    if not isinstance(config, Mapping):
        raise ValidationError("The source config must be a JSON object.")
    unknown = set(config) - KNOWN
    if unknown:
        raise ValidationError(f"Unknown source option(s): {', '.join(sorted(unknown))}.")
    style = config.get("pagination", defaults.get("pagination", "page"))
    if style not in STYLE_OPTIONS:
        raise ValidationError(f"'pagination' must be one of: {', '.join(STYLE_OPTIONS)} (got {style!r}).")
    foreign = sorted(k for k in config if k in STYLE_ONLY and k not in STYLE_OPTIONS[style])
    if foreign:
        raise ValidationError(
            f"Option(s) {', '.join(repr(k) for k in foreign)} do not apply to pagination {style!r}."
        )
    base = {k: v for k, v in defaults.items() if k in COMMON or k in STYLE_OPTIONS[style]}
    cfg = {"pagination": style, **COMMON, **STYLE_OPTIONS[style], **base, **config}
    if style == "offset" and "offset_overlap" not in config and "offset_overlap" not in base:
        size = cfg["page_size"]  # the default fits small pages: each request must reach new records
        cfg["offset_overlap"] = min(DEFAULT_OFFSET_OVERLAP, size // 2) if _integer(size) else 0
    errors = _check_strings(cfg, style) + _check_numbers(cfg)
    if not isinstance(cfg["params"], dict):
        errors.append("'params' must be a JSON object of extra query parameters.")
    fields, field_errors = clean_fields(cfg.get("fields"))
    errors += field_errors
    if fields and isinstance(cfg["id_field"], str) and cfg["id_field"] not in fields:
        errors.append(
            f"'id_field' is read from the mapped record, but '{cfg['id_field']}' is not a target in 'fields'."
        )
    incremental, inc_errors = clean_incremental(cfg.get("incremental"), fields)
    errors += inc_errors + _check_version_field(cfg, fields) + _check_total_path(cfg, style)
    if errors:
        raise ValidationError(errors)
    for key, value in (("fields", fields), ("incremental", incremental)):
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def _check_strings(cfg: Mapping[str, Any], style: str) -> list[str]:
    required = ["path", "id_field"] + [
        k for k in ("page_param", "offset_param", "cursor_param", "cursor_path", "next_path") if k in cfg
    ]
    errors = [f"'{k}' must be a non-empty string." for k in required if not _text(cfg[k])]
    errors += [
        f"'{k}' must be a string (empty for none)."
        for k in ("records_path", "page_size_param")
        if not isinstance(cfg[k], str)
    ]
    if _text(cfg["id_field"]) and "." in cfg["id_field"]:
        errors.append(
            "'id_field' names a top-level field of the stored record; map a nested id with 'fields'."
        )
    return errors


def _check_numbers(cfg: Mapping[str, Any]) -> list[str]:
    errors = []
    for key, low, high in (("page_size", 1, MAX_PAGE_SIZE), ("start_page", 0, None), ("max_pages", 1, None)):
        if key not in cfg:
            continue
        value = cfg[key]
        if not _integer(value) or value < low or (high and value > high):
            errors.append(f"'{key}' must be an integer from {low}" + (f" to {high}." if high else " up."))
    if "offset_overlap" in cfg:
        overlap, size = cfg["offset_overlap"], cfg["page_size"]
        if not _integer(overlap) or overlap < 0:
            errors.append("'offset_overlap' must be an integer from 0 up (0 switches the overlap off).")
        elif _integer(size) and overlap >= size:
            errors.append(
                f"'offset_overlap' must be smaller than 'page_size' ({size}): "
                "each request has to reach records past the ones it reads again."
            )
    return errors


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


def _check_total_path(cfg: Mapping[str, Any], style: str) -> list[str]:
    """`total_path`: where the body reports the listing's size (see handlers.totals)."""
    if "total_path" not in cfg:
        return []
    if style not in TOTAL_STYLES:
        return [f"'total_path' applies to pagination 'page' or 'offset' only (got {style!r})."]
    path = cfg["total_path"]
    if not _text(path) or any(not part.strip() for part in path.split(".")):
        return ["'total_path' must be a dotted path like \"meta.total\" to the listing's size in the body."]
    return []


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
