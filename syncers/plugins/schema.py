"""A small JSON-Schema subset for plugin configs, written here rather than pinning the
`jsonschema` package: configs are flat option lists, and what operators need is defaults
filled in and one message per field ("page_size: must be at most 1000"), which this gives
in ~100 lines. Supported: type, properties, required, additionalProperties (false),
default, enum, minimum, maximum, minLength, maxLength, pattern, items, minItems, maxItems;
title/description are accepted and ignored."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from syncers.wording import counted, listed

KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "default", "enum", "minimum",
        "maximum", "minLength", "maxLength", "pattern", "items", "minItems", "maxItems", "title",
        "description",
    }
)  # fmt: skip
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class SchemaError(ValueError):
    """Config that does not fit: `errors` is a list of (path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{p or 'config'}: {m}" for p, m in errors))

    def messages(self) -> list[str]:
        return [f"{p or 'config'}: {m}" for p, m in self.errors]


def check_schema(schema: Mapping[str, Any], where: str = "schema") -> None:
    """Refuse a schema using keywords this validator does not know (they would be ignored)."""
    if not isinstance(schema, Mapping):
        raise ValueError(f"{where}: must be an object")
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{where}: {listed('unsupported keyword', sorted(unknown))}")
    types = schema.get("type", [])
    for name in [types] if isinstance(types, str) else types:
        if name not in TYPES:
            raise ValueError(f"{where}: unknown type {name!r}")
    for key, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.{key}")
    if isinstance(schema.get("items"), Mapping):
        check_schema(schema["items"], f"{where}[]")


def validate(schema: Mapping[str, Any], value: Any) -> Any:
    """Return `value` with defaults filled in, or raise SchemaError listing every problem."""
    errors: list[tuple[str, str]] = []
    result = _validate(schema, copy.deepcopy(value), "", errors)
    if errors:
        raise SchemaError(errors)
    return result


def _is(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON booleans are not numbers, although Python's bool is an int
    return isinstance(value, TYPES[name])


def _validate(schema: Mapping[str, Any], value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, n) for n in names):
            errors.append((path, f"must be {' or '.join(names)}, not {_json_type(value)}"))
            return value
    if "enum" in schema and value not in schema["enum"]:
        errors.append((path, f"must be one of {', '.join(map(repr, schema['enum']))}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, f"must be at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, f"must be at most {schema['maximum']}"))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append((path, "must not be empty" if schema["minLength"] == 1 else "is too short"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, f"must be at most {schema['maxLength']} characters"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append((path, f"must match {schema['pattern']}"))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append((path, f"needs at least {counted(schema['minItems'], 'item')}"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append((path, f"takes at most {counted(schema['maxItems'], 'item')}"))
        if isinstance(schema.get("items"), Mapping):
            value = [_validate(schema["items"], v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        value = _validate_object(schema, value, path, errors)
    return value


def _validate_object(
    schema: Mapping[str, Any], value: dict[str, Any], path: str, errors: list[tuple[str, str]]
) -> dict[str, Any]:
    props: Mapping[str, Any] = schema.get("properties") or {}
    prefix = f"{path}." if path else ""
    if schema.get("additionalProperties", True) is False:
        for key in sorted(set(value) - set(props)):
            errors.append((f"{prefix}{key}", "unknown option"))
    for key, sub in props.items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _validate(sub, value[key], f"{prefix}{key}", errors)
    for key in schema.get("required", []):
        if key not in value:
            errors.append((f"{prefix}{key}", "is required"))
    return value


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, name):
            return name
    return type(value).__name__


def defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The config a new plugin starts with: every top-level default (may still lack required keys)."""
    return {
        k: copy.deepcopy(s["default"]) for k, s in (schema.get("properties") or {}).items() if "default" in s
    }
