"""Incremental mode: ask only for records changed since the last committed cursor.

The rule (an inclusive boundary, de-duplicated by the load):

- A run sends ``<param>=<since>`` on every request, where ``since`` is the committed cursor;
  the API must filter inclusively (``updated_at >= since``). The first run has no cursor and
  reads everything.
- While reading, the handler tracks the greatest ``<field>`` it has seen (compared as instants:
  ISO 8601 strings, naive ones read as UTC, or epoch seconds). Every page's checkpoint carries
  the run's ``since`` and that maximum, so a crashed run resumes at its next page with the same
  filter and loses nothing it had already seen.
- When the listing ends, the next cursor is that maximum minus ``lookback_seconds``, in the
  source's own format (a run that saw nothing keeps its cursor).

Because the boundary is inclusive, the records that share the maximum timestamp are read again
by the next run: records written later in the same second (or a tie group split across a page
boundary by a crash) are never skipped, and the repeats cost nothing at load time (the upsert
keys on the id and skips unchanged content). The price is that a large tie group at the
boundary is re-read on every run. The look-back window additionally re-reads records that
became visible late with an older timestamp (replication lag, long transactions upstream).

Within one run the listing is read with the configured pagination. Cursor and next-URL styles
of most APIs are keyset based and stay exact while records change; page/offset pagination over
a listing that changes mid-run can shift a record past the reader, which the next run's
inclusive boundary (and a look-back window) recovers only for records at or after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .mapping import value_at

DEFAULTS: dict[str, Any] = {"param": "updated_since", "field": "updated_at", "lookback_seconds": 0}
SINCE_KEY = "updated_since"  # the cursor in the checkpoint (also while a run is under way)
MAX_KEY = "max_seen"  # greatest timestamp seen by the run so far
MAX_LOOKBACK = 366 * 86400


def instant(value: Any) -> datetime | None:
    """A timestamp as an aware datetime, or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str) and value.strip():
            parsed = datetime.fromisoformat(value.strip())
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def shifted(value: Any, seconds: int) -> Any:
    """`value` moved `seconds` earlier, written the way the source writes its timestamps."""
    if not seconds:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value - seconds
    moment = instant(value)
    if moment is None:
        return value
    earlier = moment - timedelta(seconds=seconds)
    text = value.strip()
    if text.upper().endswith("Z"):
        return earlier.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if datetime.fromisoformat(text).tzinfo is None:
        return earlier.replace(tzinfo=None).isoformat()
    return earlier.isoformat()


class Tracker:
    """The run's filter and the greatest timestamp seen, as checkpoint entries."""

    def __init__(self, options: Mapping[str, Any], checkpoint: Mapping[str, Any] | None) -> None:
        checkpoint = checkpoint or {}
        self.param: str = options["param"]
        self.field: str = options["field"]
        self.since: Any = checkpoint.get(SINCE_KEY)
        self.max_seen: Any = None
        self._max_at: datetime | None = None
        self._offer(checkpoint.get(MAX_KEY))

    def params(self) -> dict[str, Any]:
        return {} if self.since is None else {self.param: self.since}

    def see(self, records: list[Any]) -> None:
        for record in records:
            if isinstance(record, dict):
                self._offer(value_at(record, self.field))

    def state(self) -> dict[str, Any]:
        state = {} if self.since is None else {SINCE_KEY: self.since}
        if self.max_seen is not None:
            state[MAX_KEY] = self.max_seen
        return state

    def _offer(self, value: Any) -> None:
        # Records without a usable timestamp are still loaded; they just do not move the cursor.
        moment = instant(value)
        if moment is not None and (self._max_at is None or moment > self._max_at):
            self._max_at, self.max_seen = moment, value


def next_cursor(last: Mapping[str, Any] | None, options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checkpoint a finished listing leaves for the next run (see the module docstring)."""
    last = last or {}
    if last.get(MAX_KEY) is not None:
        return {SINCE_KEY: shifted(last[MAX_KEY], options["lookback_seconds"])}
    if last.get(SINCE_KEY) is not None:
        return {SINCE_KEY: last[SINCE_KEY]}
    return None


def clean_incremental(
    value: Any, fields: Mapping[str, str] | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate the `incremental` option; errors name the sub-option."""
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, [
            "'incremental' must be a JSON object like " + '{"param": "updated_since", "field": "updated_at"}.'
        ]
    unknown = sorted(set(value) - set(DEFAULTS))
    errors = [f"Unknown option 'incremental.{k}'." for k in unknown]
    opts = {**DEFAULTS, **value}
    for key in ("param", "field"):
        if not isinstance(opts[key], str) or not opts[key].strip():
            errors.append(f"'incremental.{key}' must be a non-empty string.")
    lookback = opts["lookback_seconds"]
    if not isinstance(lookback, int) or isinstance(lookback, bool) or not 0 <= lookback <= MAX_LOOKBACK:
        errors.append(f"'incremental.lookback_seconds' must be an integer from 0 to {MAX_LOOKBACK}.")
    field = opts["field"]
    if fields and isinstance(field, str) and field.split(".")[0] not in fields:
        errors.append(
            f"'incremental.field' is read from the mapped record, but '{field.split('.')[0]}' "
            "is not a target in 'fields'."
        )
    return opts, errors
