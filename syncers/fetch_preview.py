"""Test fetch: the first page through the client's real connection and handler, each record
flagged with what the load would do with it — the load's own checks (pipeline.load for the
records table, destinations.preview for a model) — and nothing stored."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError

from gateway.errors import GatewayError
from gateway.session import session_for
from syncers.destinations.config import parse_destination
from syncers.destinations.preview import PreviewRow, preview_rows
from syncers.destinations.shapes import wrong_kind_summary
from syncers.models import SyncClient
from syncers.pipeline.load import record_text, set_aside_reason
from syncers.registry import FetchContext, get_handler


class Fetched(NamedTuple):
    external_id: str | None  # None: no usable id
    record: Any
    set_aside: str  # why the load would keep it as a failed record; "": it would load

    @property
    def pretty(self) -> str:
        return json.dumps(self.record, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class FetchPreview:
    records: list[Fetched]
    page: int | None = None
    page_records: int = 0
    is_last: bool = True
    seconds: float = 0.0
    error: str = ""
    # Destination clients: the page as model rows (typed values, per-row load errors).
    columns: list[str] = field(default_factory=list)
    rows: list[PreviewRow] = field(default_factory=list)
    # Destination clients: per mapped field whose path holds the wrong kind, what to map instead.
    wrong_kinds: list[str] = field(default_factory=list)

    @property
    def set_aside(self) -> int:
        return sum(1 for r in self.records if r.set_aside) + sum(1 for r in self.rows if r.error)


def client_test_fetch(*, client: SyncClient, limit: int = 20) -> FetchPreview:
    """Fetch the first page through the client's real connection and handler and map its
    records to ids, as a run would; store nothing (no run, no batch, no checkpoint)."""
    started = time.monotonic()
    try:
        handler = get_handler(client.handler)
        config = handler.clean_config(client.config or {})
        with session_for(client.connection) as session:
            pages = handler.pages(FetchContext(config=config, session=session, checkpoint=None))
            try:
                page = next(iter(pages), None)
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()
    except (GatewayError, ValidationError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return FetchPreview(
            records=[], error=f"{type(exc).__name__}: {message}", seconds=time.monotonic() - started
        )
    took = time.monotonic() - started
    if page is None:
        return FetchPreview(records=[], seconds=took)
    shown = page.records[:limit]
    if not client.destination:
        records = [_checked(r, handler, config) for r in shown]
        return FetchPreview(records, page.number, len(page.records), page.is_last, took)
    records = [Fetched(handler.external_id(r, config), r, "") for r in shown]
    try:
        dest = parse_destination(client.destination)
    except ValidationError as exc:
        return FetchPreview(records=records, error="destination: " + " ".join(exc.messages), seconds=took)
    columns, rows = [f.name for f in dest.fields], preview_rows(dest, shown)
    wrong = wrong_kind_summary(dest.fields, shown)
    return FetchPreview(records, page.number, len(page.records), page.is_last, took, "", columns, rows, wrong)


def _checked(record: Any, handler: Any, config: dict[str, Any]) -> Fetched:
    external_id = handler.external_id(record, config)
    reason = set_aside_reason(
        record, external_id, record_text(record), config, max_bytes=settings.SYNC_MAX_RECORD_BYTES
    )
    return Fetched(external_id, record, reason)
