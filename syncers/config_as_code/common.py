"""What every section of the configuration file shares: the one-line error, the plan of
changes, and the checks that name where in the file something is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.dateparse import parse_datetime

from syncers.wording import listed


class ConfigError(Exception):
    """One clear line: where in the file, and what is wrong."""


@dataclass
class Plan:
    changes: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.changes.append(line)


def items(data: dict[str, Any], key: str, identity: str = "name") -> list[dict[str, Any]]:
    """The list under `key`, each entry a mapping (with `identity` when that is not empty)."""
    found = data.get(key) or []
    if not isinstance(found, list) or not all(
        isinstance(i, dict) and (not identity or i.get(identity)) for i in found
    ):
        with_key = f", each with a '{identity}'" if identity else ""
        raise ConfigError(f"'{key}' must be a list of mappings{with_key}")
    return found


def refuse_unknown(spec: dict[str, Any], allowed: set[str], where: str) -> None:
    if unknown := sorted(set(spec) - allowed):
        raise ConfigError(f"{where}: {listed('unknown key', unknown)}")


def messages(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(
            " ".join(v) if k == NON_FIELD_ERRORS else f"{k}: {' '.join(v)}"
            for k, v in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def validated(obj: Any, where: str, **full_clean: Any) -> None:
    """full_clean(), its ValidationError as a ConfigError naming `where`."""
    try:
        obj.full_clean(**full_clean)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {messages(exc)}") from None


def datetime_at(value: Any, where: str, key: str) -> datetime:
    """An aware datetime from the file (ISO 8601 with an offset); ConfigError naming `key`."""
    try:
        parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    except ValueError:
        parsed = None  # well formed but impossible, e.g. 2026-02-30
    if parsed is None or parsed.tzinfo is None:
        raise ConfigError(
            f"{where}: '{key}' must be an ISO date-time with a UTC offset, e.g. 2026-12-01T03:00:00+01:00"
        )
    return parsed
