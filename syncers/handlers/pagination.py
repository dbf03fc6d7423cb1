"""The five pagination styles of the generic REST source, and the loop guard they share.

A style turns a position into a request and, given the answer, into the next position (None
after the last page). Positions are plain JSON (page number, offset, cursor, next URL) so each
page's checkpoint can say exactly where a resumed run continues."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from gateway.errors import PayloadError
from gateway.models import Connection
from gateway.payload import GatewayResponse

from .mapping import value_at

DONE_KEY = "listing_done"  # checkpoint after the last page of a style with no next position
ANCHOR_KEY = "anchor"  # offset with an overlap: ids (incremental: [id, version]) of the last records read


@dataclass(frozen=True)
class Position:
    """Where to read next: `number` is the page's ordinal (batches and messages show it)."""

    number: int
    token: Any = None  # page number, offset, cursor or next URL; None: the first request
    # Offset with an overlap: (id, version) of the last records read before `token` (the
    # version is the incremental field's value, "" outside incremental mode: any version
    # matches), and how far before `token` the request starts.
    anchor: tuple[tuple[str, str], ...] = ()
    back: int = 0


@dataclass(frozen=True)
class Reading:
    """What a page adds: its records not read before, the next position (None after the last
    page) and the checkpoint that is true once those records are stored."""

    records: list[Any]
    nxt: Position | None
    checkpoint: dict[str, Any]


class Style:
    """Base: subclasses say how to ask for a position and how to find the next one."""

    name: ClassVar[str]
    token_key: ClassVar[str]  # the checkpoint key that holds the position
    parameter: ClassVar[str] = ""  # the config key naming the paging parameter (for errors)

    def start(self, cfg: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> Position | None:
        """Resume at the checkpoint's position, else start the listing; None: it had ended."""
        if checkpoint.get(DONE_KEY):
            return None
        if checkpoint.get(self.token_key) is not None:
            return Position(int(checkpoint.get("page", 1)), checkpoint[self.token_key])
        return Position(1)

    def request(self, cfg: Mapping[str, Any], pos: Position) -> tuple[str, dict[str, Any]]:
        return cfg["path"], {**cfg["params"], **_size(cfg)}

    def advance(
        self, cfg: Mapping[str, Any], pos: Position, resp: GatewayResponse, records: list[Any]
    ) -> Position | None:
        raise NotImplementedError

    def checkpoint(self, pos: Position, nxt: Position | None, count: int) -> dict[str, Any]:
        """Where a run resumes once the page at `pos` (`count` records) is stored."""
        if nxt is None:
            return {DONE_KEY: True, "page": pos.number + 1}
        return {self.token_key: nxt.token, "page": nxt.number}

    def read(
        self,
        cfg: Mapping[str, Any],
        pos: Position,
        nxt: Position | None,
        records: list[Any],
        id_of: Callable[[Any], str | None],
    ) -> Reading | Position:
        """The page's new records (all of them, for most styles), or a Position: this answer
        cannot be placed in the listing, ask again there."""
        return Reading(records, nxt, self.checkpoint(pos, nxt, len(records)))

    def loop_hint(self, cfg: Mapping[str, Any]) -> str:
        return f"'{cfg[self.parameter]}'"


class PageNumber(Style):
    """`?page=N&per_page=K` from `start_page` until a short or empty page."""

    name, token_key, parameter = "page", "next_page", "page_param"

    def start(self, cfg: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> Position:
        number = int(checkpoint.get("next_page", cfg["start_page"]))
        return Position(number, number)

    def request(self, cfg: Mapping[str, Any], pos: Position) -> tuple[str, dict[str, Any]]:
        return cfg["path"], {**cfg["params"], cfg["page_param"]: pos.token, **_size(cfg)}

    def advance(
        self, cfg: Mapping[str, Any], pos: Position, resp: GatewayResponse, records: list[Any]
    ) -> Position | None:
        return None if len(records) < cfg["page_size"] else Position(pos.number + 1, pos.token + 1)

    def checkpoint(self, pos: Position, nxt: Position | None, count: int) -> dict[str, Any]:
        # Also after the last page: a resumed run then asks once more and finds it empty.
        return {"next_page": pos.token + 1}


class Offset(Style):
    """`?offset=O&limit=K` from 0 until a short or empty page.

    A position counts records, so it shifts when the listing changes between two requests: a
    record deleted in front of it (among those read) moves the next unread one in front too
    (skipped), one inserted in front moves a read one behind it (read twice). With
    `offset_overlap` N (on by default), each request after the first starts N records early
    and the position keeps the ids of the last N records read (its anchor, also in the
    checkpoint). In the answer, the records up to the last anchor record found were read before
    and are dropped (a record read twice anyway is merged once by the load); the rest are new.
    In incremental mode the listing is ordered by the incremental field, so an edit moves a
    record to the end: there the anchor also keeps that field's value, and an anchor record
    edited since does not match (taken for the anchor at the end, it would drop every unread
    record in between, and the cursor would then move past them for good). No anchor record in
    the answer (more records deleted or edited than the overlap): ask again further back, down
    to offset 0 at worst, rather than skip anything. Like cursor pagination, this sees a record
    inserted behind the position, not one inserted in front of it (the next run reads it)."""

    name, token_key, parameter = "offset", "next_offset", "offset_param"

    def start(self, cfg: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> Position:
        offset = int(checkpoint.get("next_offset", 0))
        overlap = cfg.get("offset_overlap", 0)
        anchor = tuple(map(_anchor_entry, checkpoint.get(ANCHOR_KEY) or ()))[-overlap:] if overlap else ()
        number = int(checkpoint.get("page", offset // cfg["page_size"] + 1))
        return Position(number, offset, anchor, overlap if anchor else 0)

    def request(self, cfg: Mapping[str, Any], pos: Position) -> tuple[str, dict[str, Any]]:
        return cfg["path"], {**cfg["params"], cfg["offset_param"]: _asked(pos), **_size(cfg)}

    def advance(
        self, cfg: Mapping[str, Any], pos: Position, resp: GatewayResponse, records: list[Any]
    ) -> Position | None:
        if len(records) < cfg["page_size"]:
            return None
        return Position(pos.number + 1, _asked(pos) + len(records))

    def checkpoint(self, pos: Position, nxt: Position | None, count: int) -> dict[str, Any]:
        return {"next_offset": pos.token + count}

    def read(
        self,
        cfg: Mapping[str, Any],
        pos: Position,
        nxt: Position | None,
        records: list[Any],
        id_of: Callable[[Any], str | None],
    ) -> Reading | Position:
        overlap = cfg.get("offset_overlap", 0)
        if not overlap:
            return super().read(cfg, pos, nxt, records, id_of)
        version = _version_of(cfg)
        keys = [(i, version(r)) if (i := id_of(r)) is not None else None for r in records]
        known = _read_before(pos, keys)
        if known is None:
            # Widen the step while it is under a page, then a page at a time: the answers then
            # cover the listing without gaps, so the anchor's last survivor is not jumped over.
            back = min(pos.token, pos.back + min(pos.back, cfg["page_size"]))
            return Position(pos.number, pos.token, pos.anchor, back)
        anchor = tuple(k for k in keys if k is not None)[-overlap:]
        after = Position(pos.number + 1, _asked(pos) + len(records), anchor, overlap if anchor else 0)
        entries = [list(k) if cfg.get("incremental") else k[0] for k in anchor]
        checkpoint = {"next_offset": after.token, ANCHOR_KEY: entries, "page": after.number}
        return Reading(records[known:], after if nxt is not None else None, checkpoint)


def _asked(pos: Position) -> int:
    return max(0, pos.token - pos.back)


def _read_before(pos: Position, keys: list[tuple[str, str] | None]) -> int | None:
    """How many leading records of the answer at `pos` were read before: up to the last anchor
    record in it at the version read. None: no anchor record in it, ask further back."""
    if not pos.anchor:
        return 0  # the first page, or nothing with an id to anchor on yet
    versions = dict(pos.anchor)
    for i in range(len(keys) - 1, -1, -1):
        key = keys[i]
        if key is not None and key[0] in versions and versions[key[0]] in ("", key[1]):
            return i + 1
    # From offset 0 there is nowhere further back: every anchor record was deleted or edited,
    # so take all of it as new (what was read before is merged once more, never lost).
    return 0 if _asked(pos) == 0 else None


def _version_of(cfg: Mapping[str, Any]) -> Callable[[Any], str]:
    """What tells an edited record from the one read before: the incremental field's value
    (the listing is ordered by it). Outside incremental mode edits do not move records, and
    the whole content would not do: some APIs serve fields that change on every request."""
    incremental = cfg.get("incremental")
    if not incremental:
        return lambda record: ""
    field = incremental["field"]
    return lambda record: json.dumps(value_at(record, field), default=str) if isinstance(record, dict) else ""


def _anchor_entry(entry: Any) -> tuple[str, str]:
    """A checkpoint's anchor entry: [id, version] (incremental mode) or a bare id."""
    if isinstance(entry, list | tuple) and len(entry) == 2:
        return str(entry[0]), str(entry[1])
    return str(entry), ""


class Cursor(Style):
    """The next cursor at `cursor_path` in the body, sent back as `cursor_param`; the listing
    ends when it is missing, null or empty."""

    name, token_key, parameter = "cursor", "cursor", "cursor_param"

    def request(self, cfg: Mapping[str, Any], pos: Position) -> tuple[str, dict[str, Any]]:
        path, params = super().request(cfg, pos)
        if pos.token is not None:
            params[cfg["cursor_param"]] = pos.token
        return path, params

    def advance(
        self, cfg: Mapping[str, Any], pos: Position, resp: GatewayResponse, records: list[Any]
    ) -> Position | None:
        cursor = value_at(resp.json, cfg["cursor_path"])
        if cursor is None or cursor == "" or not records:
            return None
        if not isinstance(cursor, str | int) or isinstance(cursor, bool):
            raise PayloadError(
                f"page {pos.number}: '{cfg['cursor_path']}' is {type(cursor).__name__}, not a cursor"
            )
        return Position(pos.number + 1, cursor)


class Link(Style):
    """RFC 8288 (5988) `Link: <url>; rel="next"` until an answer has none."""

    name, token_key = "link", "next_url"

    def request(self, cfg: Mapping[str, Any], pos: Position) -> tuple[str, dict[str, Any]]:
        return (pos.token, {}) if pos.token else super().request(cfg, pos)

    def advance(
        self, cfg: Mapping[str, Any], pos: Position, resp: GatewayResponse, records: list[Any]
    ) -> Position | None:
        # The gateway has resolved the link against the answer's URL and stripped credentials.
        url = next((u for rel, u in resp.links.items() if "next" in rel.lower().split()), None)
        return Position(pos.number + 1, url) if url and records else None

    def loop_hint(self, cfg: Mapping[str, Any]) -> str:
        return "its own Link header"


class NextUrl(Link):
    """The next page's URL at `next_path` in the body (absolute or relative to the answer)."""

    name, parameter = "next_url", "next_path"

    def advance(
        self, cfg: Mapping[str, Any], pos: Position, resp: GatewayResponse, records: list[Any]
    ) -> Position | None:
        url = value_at(resp.json, cfg["next_path"])
        if url is None or url == "" or not records:
            return None
        if not isinstance(url, str):
            raise PayloadError(f"page {pos.number}: '{cfg['next_path']}' is {type(url).__name__}, not a URL")
        return Position(pos.number + 1, urljoin(resp.url, url.strip()))

    def loop_hint(self, cfg: Mapping[str, Any]) -> str:
        return f"its own '{cfg['next_path']}' URL"


STYLES: dict[str, Style] = {s.name: s for s in (PageNumber(), Offset(), Cursor(), Link(), NextUrl())}


def _size(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {cfg["page_size_param"]: cfg["page_size"]} if cfg["page_size_param"] else {}


def without_credentials(url: str, secret: str | None) -> str:
    """A next URL fit for a checkpoint: no user:password@, and not the query parameter that
    carries the connection's API key (an API may echo it into its next links)."""
    parts = urlsplit(url)
    query = parts.query
    if secret and query:
        query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != secret])
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def secret_param(connection: Connection) -> str | None:
    kind = connection.auth_kind
    return connection.auth_param_name if kind == Connection.AuthKind.API_KEY_QUERY else None


def url_key(url: str) -> tuple[Any, ...]:
    """The same page however its URL's query is ordered."""
    parts = urlsplit(url)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", tuple(query))


class LoopGuard:
    """Ends a listing that would never end: a cursor or next URL that was already followed in
    this run, or the same page twice in a row (an API that ignores the paging parameter)."""

    def __init__(self, style: Style, cfg: Mapping[str, Any]) -> None:
        self._style, self._cfg = style, cfg
        self._marker: tuple[int, str, str] | None = None
        self._followed: set[Any] = set()

    def check(self, pos: Position, resp: GatewayResponse, records: list[Any], nxt: Position | None) -> None:
        """Raise PayloadError (nothing of this page is staged) when the listing loops."""
        follows = isinstance(self._style, Cursor | Link)
        if follows:
            if pos.token is not None:
                self._followed.add(self._key(pos.token))
            if isinstance(self._style, Link):
                self._followed.add(url_key(resp.url))
        if follows and nxt is not None and self._key(nxt.token) in self._followed:
            what = "cursor" if isinstance(self._style, Cursor) else "URL"
            shown = str(nxt.token)
            shown = shown if len(shown) <= 120 else shown[:117] + "..."
            raise PayloadError(
                f"page {pos.number}: the next {what} {shown!r} was already followed in this run "
                "(pagination loop stopped)"
            )
        marker = _page_marker(records)
        if marker is not None and marker == self._marker:
            raise PayloadError(
                f"page {pos.number} repeats page {pos.number - 1}: the API seems to ignore "
                f"{self._style.loop_hint(self._cfg)} (pagination loop stopped)"
            )
        self._marker = marker

    def _key(self, token: Any) -> Any:
        return url_key(token) if isinstance(self._style, Link) else (type(token).__name__, token)


def _page_marker(records: list[Any]) -> tuple[int, str, str] | None:
    # Cheap identity of a page: an API that ignores the paging parameter returns the same one.
    if not records:
        return None
    return (len(records), repr(records[0])[:200], repr(records[-1])[:200])
