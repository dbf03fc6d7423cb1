"""Generic REST source: a paginated JSON endpoint, read one page at a time.

Options (see docs/concepts/rest-source.md): `pagination` (page, offset, cursor, link, next_url) and
its parameters, `records_path`, `id_field`, optional `fields` mapping and `incremental` mode.
Each yielded page carries a checkpoint that lets a crashed run resume at the next page."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gateway.errors import PayloadError
from syncers.registry import FetchContext, Page, SyncHandler

from . import incremental
from .mapping import map_record, records_at
from .options import COMMON, MAX_PAGE_SIZE, REST_SCHEMA, clean_rest_config
from .pagination import STYLES, Link, LoopGuard, Position, secret_param, url_key, without_credentials
from .totals import TotalCheck

__all__ = ["MAX_PAGE_SIZE", "RestHandler", "RestPageNumberHandler", "records_at"]


class RestHandler(SyncHandler):
    """Any paginated JSON API; page-number pagination unless `pagination` says otherwise."""

    name = "rest"
    label = "REST (JSON API: page, offset, cursor, Link or next-URL pagination)"
    default_config = {"pagination": "page", **COMMON}
    options = REST_SCHEMA

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return clean_rest_config(config, self.default_config)

    def pages(self, ctx: FetchContext) -> Iterator[Page]:
        cfg = ctx.config
        style = STYLES[cfg["pagination"]]
        checkpoint = ctx.checkpoint or {}
        tracker = incremental.Tracker(cfg["incremental"], checkpoint) if cfg.get("incremental") else None
        pos = style.start(cfg, checkpoint)
        if pos is None:  # the last page was stored, but the run ended before it could say so
            yield Page(int(checkpoint.get("page", 1)), [], dict(checkpoint), True)
            return
        guard = LoopGuard(style, cfg)
        totals = TotalCheck(cfg, resumed=bool(checkpoint))
        secret = secret_param(ctx.session.connection)
        for _ in range(cfg["max_pages"]):
            target, params = style.request(cfg, pos)
            if tracker is not None:
                params.update(_missing_from(target, tracker.params()))
            resp = ctx.session.get(target, params=params)
            records = records_at(resp.json, cfg["records_path"], pos.number)
            nxt = style.advance(cfg, pos, resp, records)
            if nxt is not None and isinstance(style, Link):
                nxt = Position(nxt.number, without_credentials(nxt.token, secret))
            guard.check(pos, resp, records, nxt)
            records = [map_record(r, cfg.get("fields")) for r in records]
            reading = style.read(cfg, pos, nxt, records, lambda r: self.external_id(r, cfg))
            if isinstance(reading, Position):  # offset: the anchor is not in it, step back
                pos = reading
                continue
            records, nxt, checkpoint = reading.records, reading.nxt, reading.checkpoint
            totals.see(resp.headers, resp.json, len(records))
            if tracker is not None:
                tracker.see(records)
                checkpoint.update(tracker.state())
            note = totals.note() if nxt is None else ""
            yield Page(pos.number, records, checkpoint, nxt is None, note, total=totals.first)
            if nxt is None:
                return
            pos = nxt
        raise PayloadError(f"stopped after max_pages={cfg['max_pages']} pages without a last page")

    def reserved_params(self, config: Mapping[str, Any]) -> set[str]:
        names = {config.get(k) for k in ("page_param", "page_size_param", "offset_param", "cursor_param")}
        if config.get("incremental"):
            names.add(config["incremental"]["param"])
        return {n for n in names if isinstance(n, str) and n}

    def checkpoint_after_listing(
        self, last: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Incremental: the greatest timestamp seen minus the look-back (see incremental.py);
        otherwise None, so the next run reads the whole listing again."""
        if not config.get("incremental"):
            return None
        return incremental.next_cursor(last, config["incremental"])


# The name this class had when page numbers were its only style.
RestPageNumberHandler = RestHandler


def _missing_from(target: str, params: dict[str, Any]) -> dict[str, Any]:
    # A followed next URL normally carries the filter already; add it only where it does not.
    present = {k for k, _ in url_key(target)[3]} if "://" in target else set()
    return {k: v for k, v in params.items() if k not in present}
