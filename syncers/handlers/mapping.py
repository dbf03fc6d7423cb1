"""Dotted paths into JSON answers: where a page's records are, and the optional field mapping
that turns a source record into the stored one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import PayloadError

_MISSING = object()


def value_at(node: Any, path: str, default: Any = None) -> Any:
    """Follow `a.b.0.c` through objects (keys) and lists (numeric parts); `default` when a
    part is missing. An empty path is the node itself."""
    return value_at_parts(node, path_parts(path), default)


def path_parts(path: str) -> tuple[str, ...]:
    """A dotted path split once, for value_at_parts (a path read for every record)."""
    return tuple(filter(None, path.split(".")))


def value_at_parts(node: Any, parts: tuple[str, ...], default: Any = None) -> Any:
    """value_at with the path split already (path_parts)."""
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
        if node is _MISSING:
            return default
    return node


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


def map_record(record: Any, fields: Mapping[str, str] | None) -> Any:
    """The stored form of a record: {target: value at source path} for every mapped field
    (null when the source has none). Without a mapping, or for a record that is not an
    object (the load keeps it aside as failed), the record is returned unchanged."""
    if not fields or not isinstance(record, dict):
        return record
    return {target: value_at(record, source) for target, source in fields.items()}


def clean_fields(value: Any) -> tuple[dict[str, str] | None, list[str]]:
    """Validate the `fields` option: an object of target name → dotted source path."""
    if value is None:
        return None, []
    if not isinstance(value, dict) or not value:
        return None, ["'fields' must be a non-empty JSON object of target name → dotted source path."]
    errors = [
        f"'fields.{target}' must be a non-empty dotted path string."
        for target, source in value.items()
        if not isinstance(source, str) or not source.strip(".").strip()
    ]
    errors += [f"'fields' target '{t}' must be a plain name (no dots)." for t in value if "." in t or not t]
    return dict(value), errors
