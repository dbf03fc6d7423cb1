"""The product listing in every pagination style a real API uses, each with the same
`updated_since` filter (inclusive, `>=`; the filtered listing is ordered by updated_at, then
id), plus a listing that never ends, for loop guards:

- /products?page=&per_page=             page numbers, RFC 8288 Link rel="next" header
- /catalog/products?page=&per_page=     the same, each product with a category code (and tag slugs, as everywhere)
- /catalog/categories                    {"data": [{"code", "name"}]}
- /catalog/tags                          {"data": [{"slug", "name"}]}
- /products/offset?offset=&limit=       {"data", "offset", "limit", "total"}
- /products/cursor?cursor=&limit=       {"data", "next_cursor"} (keyset cursor, null at the end)
- /products/next?after=&limit=          {"results": {"items", "count"}, "links": {"next": URL}}
- /bad/loop                             ignores every paging parameter; same cursor and next URL
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from fakeapi.dataset import TAG_SLUGS, Dataset, parse_time

if TYPE_CHECKING:
    from fakeapi.exchange import Exchange, ServerState

Query = dict[str, list[str]]
MAX_PER_PAGE = 1000
_INT_RE = re.compile(r"-?[0-9]{1,18}")


def _arg(q: Query, name: str, default: str = "") -> str:
    return q.get(name, [default])[-1]


def _int(q: Query, name: str, default: int, minimum: int) -> int:
    raw = _arg(q, name, str(default)).strip()
    if not _INT_RE.fullmatch(raw) or int(raw) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return int(raw)


def _since(q: Query) -> datetime | None:
    if "updated_since" not in q:
        return None
    since = parse_time(_arg(q, "updated_since"))
    if since is None:
        raise ValueError("updated_since must be an ISO 8601 timestamp")
    return since


def arrive(server: ServerState, page: int | None = None) -> tuple[Dataset, dict[int, int]]:
    """Count a listing request (before the delay, so tests see requests in flight), carry out
    the inserts and deletes scheduled before it, wait `page_delay`, and return the data to
    serve and the injected failures by page."""
    with server.lock:
        dataset, delay, fail = server.dataset, server.page_delay, server.fail_pages
        server.requests += 1
        server.apply_due()
        if page is not None:
            server.pages[page] = server.pages.get(page, 0) + 1
    if delay:
        time.sleep(delay)
    return dataset, fail


def _slice(dataset: Dataset, since: datetime | None, start: int, stop: int) -> tuple[list[str], int]:
    """Records at listing positions [start, stop) and the listing's length."""
    if since is None:
        return dataset.serve(dataset.positions(start, stop)), dataset.total
    listing = dataset.ordered(since)
    return dataset.serve([i for _, i in listing[start:stop]]), len(listing)


def _body(rows: list[str], **fields: Any) -> bytes:
    tail = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in fields.items())
    return ('{"data":[' + ",".join(rows) + "]" + tail + "}").encode()


def products(server: ServerState, query: str, catalog: bool = False) -> tuple[int, bytes, dict[str, str]]:
    """Page numbers; a Link to the next page while there is one (relative, so it also works
    under /auth/<kind>/), carrying the filter along. `catalog`: each product also names its
    category (see catalog_row). An API told to answer empty listings lists nothing."""
    q = parse_qs(query, keep_blank_values=True)
    page, per_page = _int(q, "page", 1, 1), min(_int(q, "per_page", 100, 1), MAX_PER_PAGE)
    since = _since(q)
    dataset, fail = arrive(server, page)
    if page in fail:
        return fail[page], b'{"error":"injected failure"}', {}
    start = (page - 1) * per_page
    rows, total = _slice(dataset, since, start, start + per_page)
    if server.empty_listing:
        rows, total = [], 0
    if catalog:
        rows = [catalog_row(r) for r in rows]
    headers = {}
    if start + per_page < total:
        extra = "" if since is None else "&" + urlencode({"updated_since": _arg(q, "updated_since")})
        headers["Link"] = f'<products?page={page + 1}&per_page={per_page}{extra}>; rel="next"'
    return 200, _body(rows, page=page, per_page=per_page, total=total), headers


CATEGORIES = [{"code": f"c{n}", "name": name} for n, name in enumerate(
    ("Lighting", "Kitchen", "Furniture", "Bags", "Seating", "Decor", "Stationery", "Garden")
)]  # fmt: skip

# The catalog's tags: every slug a product's `tags` list uses (fakeapi.dataset).
TAGS = [{"slug": slug, "name": slug.capitalize()} for slug in TAG_SLUGS]

# How a /catalog/products record maps onto the demo's catalog.Product (model field <- dotted
# path; the category by its natural key): the demo client, the tests and the bench share it.
CATALOG_PRODUCT_FIELDS: dict[str, Any] = {
    "sku": "sku",
    "name": "name",
    "price": "price",
    "category": {"path": "category.code", "lookup": "code"},
    "updated_at": "updated_at",
}
# The demo's many-to-many: catalog.Product.tags <- the record's list of tag slugs.
CATALOG_TAGS_FIELD: dict[str, Any] = {"tags": {"path": "tags", "lookup": "slug"}}


def catalog_row(text: str) -> str:
    """A product as the catalog listing serves it: with `category: {"code": "c<id % 8>"}`
    unless the record (e.g. a replaced one) says otherwise."""
    record = json.loads(text)
    if isinstance(record, dict) and "category" not in record and type(record.get("id")) is int:
        record["category"] = {"code": f"c{record['id'] % len(CATEGORIES)}"}
        return json.dumps(record, separators=(",", ":"))
    return text


def categories(server: ServerState, query: str) -> tuple[int, bytes, dict[str, str]]:
    """The catalog's categories, all on page 1 (later pages are empty)."""
    page = _int(parse_qs(query, keep_blank_values=True), "page", 1, 1)
    return 200, json.dumps({"data": CATEGORIES if page == 1 else []}).encode(), {}


def tags(server: ServerState, query: str) -> tuple[int, bytes, dict[str, str]]:
    """The catalog's tags, all on page 1 (later pages are empty)."""
    page = _int(parse_qs(query, keep_blank_values=True), "page", 1, 1)
    return 200, json.dumps({"data": TAGS if page == 1 else []}).encode(), {}


def offset(h: Exchange, q: Query) -> None:
    start, limit = _int(q, "offset", 0, 0), min(_int(q, "limit", 100, 1), MAX_PER_PAGE)
    since = _since(q)
    dataset, _ = arrive(h.server)
    rows, total = _slice(dataset, since, start, start + limit)
    h.send_json(200, _body(rows, offset=start, limit=limit, total=total))


def _keyset(dataset: Dataset, since: datetime | None, token: str, limit: int) -> tuple[list[str], str | None]:
    """A page after the position a cursor names, and the cursor of its last record (None at
    the end). Keyset, like real cursors: records changing elsewhere (edited, inserted or
    deleted, even the one the cursor names) never shift the reader."""
    after = _decode(token) if token else None
    if since is None:
        start = dataset.position_after(after[1]) if after else 0
        indexes = list(dataset.positions(start, start + limit))
        more = start + limit < dataset.total
        last: tuple[datetime | None, int] | None = (None, indexes[-1]) if indexes else None
    else:
        listing = dataset.ordered(since)
        start = 0
        if after is not None:
            moment = after[0] or dataset.time_of(after[1]) or since
            start = dataset.after(listing, (moment, after[1]))
        chosen = listing[start : start + limit]
        indexes, more = [i for _, i in chosen], start + limit < len(listing)
        last = chosen[-1] if chosen else None
    return dataset.serve(indexes), (_encode(*last) if more and last else None)


def _encode(moment: datetime | None, index: int) -> str:
    raw = json.dumps([moment.isoformat() if moment else None, index]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[datetime | None, int]:
    try:
        stamp, index = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if type(index) is not int or index < 0:
            raise ValueError
        return (parse_time(stamp) if stamp else None), index
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("cursor is not one this API issued") from None


def cursor(h: Exchange, q: Query) -> None:
    limit, since = min(_int(q, "limit", 100, 1), MAX_PER_PAGE), _since(q)
    dataset, _ = arrive(h.server)
    rows, nxt = _keyset(dataset, since, _arg(q, "cursor"), limit)
    h.send_json(200, _body(rows, next_cursor=nxt))


def next_url(h: Exchange, q: Query) -> None:
    """Records under results.items; the absolute URL of the next page under links.next,
    with the request's other query parameters."""
    limit, since = min(_int(q, "limit", 100, 1), MAX_PER_PAGE), _since(q)
    dataset, _ = arrive(h.server)
    rows, nxt = _keyset(dataset, since, _arg(q, "after"), limit)
    link = None
    if nxt is not None:  # like many APIs, every other parameter is copied along (even an api_key)
        params = {k: v[-1] for k, v in q.items() if k != "after"} | {"after": nxt, "limit": limit}
        link = h.absolute(f"/products/next?{urlencode(params)}")
    items = ",".join(rows)
    body = f'{{"results":{{"items":[{items}],"count":{len(rows)}}},"links":{{"next":{json.dumps(link)}}}}}'
    h.send_json(200, body.encode())


def loop(h: Exchange, q: Query) -> None:
    """A broken API: ignores page, offset and cursor, always returns the first records, the
    same next cursor and a next URL (body and Link header) pointing at this very request."""
    limit = min(_int(q, "limit", _int(q, "per_page", 10, 1), 1), MAX_PER_PAGE)
    rows = h.server.dataset.page(0, limit)
    here = h.absolute(h.path)
    body = _body(rows, next_cursor="stuck", next=here, links={"next": here})
    h.send_json(200, body, {"Link": f'<{here}>; rel="next"'})


ROUTES = {
    "/products/offset": offset,
    "/products/cursor": cursor,
    "/products/next": next_url,
    "/bad/loop": loop,
}
