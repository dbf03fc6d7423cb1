"""The version rule: which of two copies of a record is newer, by the record's own version.

A source config may name a `version_field` (a dotted path; by default the incremental field
when the config has one). Its value orders the copies of a record: ISO 8601 timestamps (with
or without a zone; naive ones are UTC; a date alone is its midnight UTC), epoch numbers
(seconds, int or float, also as numeric strings) and plain integers all become one number,
epoch seconds to the microsecond, so they compare among themselves.

A copy without a usable version (field missing, null or unparseable) ranks below every copy
that has one: it never replaces a versioned copy, and a versioned copy replaces it. Between
equal versions (both missing included) the last copy wins, as without a version field.

The PostgreSQL merge computes the same number in SQL (`sql_version`), so both paths agree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from syncers.handlers.mapping import value_at

# The stored column is numeric(38, 6): 32 digits before the point, microseconds after it.
LIMIT = Decimal(10) ** 32
_STEP = Decimal("0.000001")
_CONTEXT = Context(prec=60)  # the default 28 digits cannot hold 32 + 6
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The same patterns serve Python (re) and PostgreSQL (~): only plain ISO 8601 shapes, so that
# the two merge paths accept exactly the same strings.
NUMBER_RE = r"^[+-]?[0-9]+(\.[0-9]+)?$"
ISO_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
ZONE_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"

Version = tuple[Decimal]


def version_field(config: Mapping[str, Any]) -> str | None:
    """The dotted path that orders a record's copies: `version_field` when the config names one
    (null switches the rule off), else the incremental field, else None (arrival order)."""
    if "version_field" in config:
        return config["version_field"] or None
    incremental = config.get("incremental")
    if isinstance(incremental, Mapping) and incremental.get("field"):
        return str(incremental["field"])
    return None


def version_of(record: Any, path: str | None) -> Version | None:
    """A comparable key for the value at `path`: epoch seconds (to the microsecond); None when
    the path is missing or its value is not a timestamp or a number."""
    if not path:
        return None
    value = value_at(record, path)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = _decimal(repr(value) if isinstance(value, float) else str(value))
    elif isinstance(value, str) and re.match(NUMBER_RE, value):
        number = _decimal(value)
    elif isinstance(value, str) and re.match(ISO_RE, value):
        number = _timestamp(value)
    else:
        return None
    if number is None or not number.is_finite() or abs(number) >= LIMIT:
        return None
    return (number.quantize(_STEP, rounding=ROUND_HALF_UP, context=_CONTEXT),)


def supersedes(new: Version | None, old: Version | None) -> bool:
    """Whether a copy with version `new` replaces one with version `old` (equal: it does)."""
    if old is None:
        return True
    if new is None:
        return False
    return new >= old


def sql_version(value: str) -> str:
    """The SQL (PostgreSQL) for `version_of`, given the jsonb expression of the value. A
    string shaped like a timestamp that is no valid date (2024-02-30) raises, and the batch
    goes the row-by-row way, where it gets no version."""
    text = f"({value} #>> '{{}}')"
    number = f"""CASE jsonb_typeof({value})
        WHEN 'number' THEN ({value})::text::numeric
        WHEN 'string' THEN CASE
            WHEN {text} ~ '{NUMBER_RE}' THEN {text}::numeric
            WHEN {text} ~ '{ISO_RE}' THEN extract(epoch FROM CASE
                WHEN {text} ~ '[0-9][T ][0-9].*{ZONE_RE}' THEN {text}::timestamptz
                ELSE {text}::timestamp AT TIME ZONE 'UTC' END)
            END
        END"""
    return f"(SELECT CASE WHEN abs(n) < 1e32 THEN round(n, 6) END FROM (SELECT {number} AS n) v)"


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _timestamp(text: str) -> Decimal | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000
