"""Listings that report their size: page-number and offset listings shift under deletions
(a record deleted on a page already read moves a later record onto it, and the reader never
sees that one). Where the API reports a total, the run compares it with what it read and
says so on the run ("listing changed during the run: read 2,476 of 2,500").

The total is read from the `X-Total-Count` header, else from the body at `total_path`
(default `meta.total`). A run that resumed mid-listing did not read the earlier pages itself
and compares nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .mapping import value_at

DEFAULT_TOTAL_PATH = "meta.total"
STYLES = ("page", "offset")  # the styles whose position counts records


def reported_total(headers: Mapping[str, Any], body: Any, path: str) -> int | None:
    """The listing size the answer reports, or None when it reports none."""
    for value in (
        _header(headers, "X-Total-Count"),
        value_at(body, path) if isinstance(body, dict) else None,
    ):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


class TotalCheck:
    """Records read against the totals reported at the start and at the end of the listing."""

    def __init__(self, cfg: Mapping[str, Any], resumed: bool) -> None:
        self.active = cfg["pagination"] in STYLES and not resumed
        self.path: str = cfg.get("total_path") or DEFAULT_TOTAL_PATH
        self.first: int | None = None
        self.last: int | None = None
        self.read = 0

    def see(self, headers: Mapping[str, Any], body: Any, records: int) -> None:
        if not self.active:
            return
        total = reported_total(headers, body, self.path)
        if total is not None:
            self.first = total if self.first is None else self.first
            self.last = total
        self.read += records

    def note(self) -> str:
        """After the last page: what to tell the operator, "" when the counts agree."""
        if not self.active or self.first is None:
            return ""
        if self.read == self.first and self.last == self.first:
            return ""
        end = f" ({self.last:,} listed at the end)" if self.last != self.first else ""
        return f"listing changed during the run: read {self.read:,} of {self.first:,}{end}"


def _header(headers: Mapping[str, Any], name: str) -> Any:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    value = get(name)
    if value is None:  # a plain dict: look without case
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    return value
