"""The generic REST source in each pagination style, end to end: fake API over HTTP → real
worker → database. Exact counts, loop guards that stop a run after a bounded number of
requests, and runs stopped between pages that resume at the checkpoint."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from urllib.request import urlopen

import pytest

from fakeapi.control import FakeApi
from gateway.models import Connection
from syncers.models import SyncClient, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final
from syncers.services import sync_fetch_here, sync_run_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]

RECORDS = 237  # not a multiple of the page size: the last page is short
PAGE = 50

STYLES: dict[str, dict[str, Any]] = {
    "page": {"pagination": "page", "path": "/products"},
    "offset": {"pagination": "offset", "path": "/products/offset"},
    "cursor": {"pagination": "cursor", "path": "/products/cursor"},
    "link": {"pagination": "link", "path": "/products"},
    "next_url": {
        "pagination": "next_url",
        "path": "/products/next",
        "records_path": "results.items",
        "next_path": "links.next",
    },
}


def rest_client(make_client, style: str, **config: Any):
    return make_client(
        name=f"rest-{style.replace('_', '-')}",
        handler="rest",
        config={**STYLES[style], "page_size": PAGE, **config},
    )


def run_now(client, timeout: float = 60) -> SyncRun:
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    return run_wait_final(run_id=run.pk, timeout=timeout)


def stored(client) -> dict[str, Any]:
    return dict(SyncedRecord.objects.filter(client=client).values_list("external_id", "data"))


def served(api: FakeApi) -> dict[str, Any]:
    return {str(r["id"]): r for r in api.records()}


# Four full pages and a short one; no style needs an extra request to find the end. Offset
# starts each request after the first 5 records early (its default overlap): 50 + 4 x 45 + 7.
PAGES = {"offset": 6}


@pytest.mark.parametrize("style", STYLES)
def test_each_pagination_style_syncs_every_record_with_exact_counts(api: FakeApi, make_client, style) -> None:
    api.reset(records=RECORDS)
    client = rest_client(make_client, style)

    run = run_now(client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    pages = PAGES.get(style, 5)
    assert run.counts() == {
        "pages": pages,
        "fetched": RECORDS,
        "created": RECORDS,
        "updated": 0,
        "unchanged": 0,
        "failed": 0,
    }
    assert len(api.calls(STYLES[style]["path"])) == pages
    assert stored(client) == served(api)
    client.refresh_from_db()
    assert client.checkpoint is None


LOOPS = {
    # style: (requests before the guard stops the run, what the error says)
    "page": (2, "page 2 repeats page 1: the API seems to ignore 'page' (pagination loop stopped)"),
    "offset": (2, "page 2 repeats page 1: the API seems to ignore 'offset' (pagination loop stopped)"),
    "cursor": (
        2,
        "page 2: the next cursor 'stuck' was already followed in this run (pagination loop stopped)",
    ),
    "link": (
        1,
        "page 1: the next URL '{url}/bad/loop?per_page=50' was already followed in this run (pagination loop stopped)",
    ),
    "next_url": (
        1,
        "page 1: the next URL '{url}/bad/loop?limit=50' was already followed in this run (pagination loop stopped)",
    ),
}


@pytest.mark.parametrize("style", LOOPS)
def test_a_pagination_loop_fails_the_run_with_a_clear_error_after_a_bounded_number_of_requests(
    api: FakeApi, make_client, style
) -> None:
    client = rest_client(make_client, style, path="/bad/loop", records_path="data", **_loop_options(style))

    run = run_now(client)

    requests, message = LOOPS[style]
    assert run.status == SyncRun.Status.FAILED
    assert run.error == f"PayloadError: {message.format(url=api.url)}"
    assert len(api.calls("/bad/loop")) == requests
    # Nothing of the repeated page was staged; the first page of a page/offset loop was.
    assert run.pages == requests - 1


def _loop_options(style: str) -> dict[str, Any]:
    return {"next_path": "next"} if style == "next_url" else {}


def test_max_pages_ends_a_listing_that_never_says_it_is_done(api: FakeApi, make_client) -> None:
    api.reset(records=RECORDS)
    client = rest_client(make_client, "cursor", max_pages=3)

    run = run_now(client)

    assert run.status == SyncRun.Status.FAILED
    assert run.error == "PayloadError: stopped after max_pages=3 pages without a last page"
    assert len(api.calls("/products/cursor")) == 3
    client.refresh_from_db()
    assert client.checkpoint["page"] == 4, "the pages read are kept; a later run continues there"


CHECKPOINT_AFTER_TWO_PAGES = {
    "page": lambda cp, url: cp == {"next_page": 3},
    "offset": lambda cp, url: cp == {"next_offset": 95, "anchor": [str(i) for i in range(91, 96)], "page": 3},
    "cursor": lambda cp, url: set(cp) == {"cursor", "page"} and cp["page"] == 3,
    "link": lambda cp, url: cp == {"next_url": f"{url}/products?page=3&per_page=50", "page": 3},
    "next_url": lambda cp, url: set(cp) == {"next_url", "page"} and cp["next_url"].startswith(url),
}
RESUMED_AT = {  # the query of the first request of the resumed run
    "page": lambda cp: {"page": "3", "per_page": "50"},
    "offset": lambda cp: {"offset": "90", "limit": "50"},  # 5 before the position: the overlap
    "cursor": lambda cp: {"cursor": cp["cursor"], "limit": "50"},
    "link": lambda cp: {"page": "3", "per_page": "50"},
    "next_url": lambda cp: dict(parse_qsl(urlsplit(cp["next_url"]).query)),
}


@pytest.mark.parametrize("style", STYLES)
def test_a_run_stopped_between_pages_resumes_at_the_checkpoint(api: FakeApi, make_client, style) -> None:
    api.reset(records=RECORDS)
    client = rest_client(make_client, style)
    path = STYLES[style]["path"]

    first = sync_fetch_here(client=client, who="tester", max_pages=2)
    first = run_wait_final(run_id=first.pk, timeout=60)
    client.refresh_from_db()
    checkpoint = client.checkpoint
    before = len(api.calls(path))  # pages 1-2, plus any page the reader had fetched ahead
    second = run_now(client)

    # Offset: 50 + 45 records (the second request re-read 5), then 3 x 45 + 7 in 4 requests.
    read, left = (95, 4) if style == "offset" else (100, 3)
    assert (first.pages, first.fetched, first.created) == (2, read, read)
    assert CHECKPOINT_AFTER_TWO_PAGES[style](checkpoint, api.url), checkpoint
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert (second.pages, second.fetched, second.created) == (left, RECORDS - read, RECORDS - read)
    resumed = api.calls(path)[before:]
    assert len(resumed) == left, "the resumed run reads the pages after the checkpoint only"
    assert resumed[0]["query"] == RESUMED_AT[style](checkpoint)
    assert stored(client) == served(api)


def test_an_api_key_echoed_into_next_urls_never_reaches_the_checkpoint(api: FakeApi, worker) -> None:
    api.reset(records=RECORDS)
    conn = Connection(
        name=f"keyed-{uuid.uuid4().hex[:6]}",
        base_url=f"{api.url}/auth/query",
        auth_kind=Connection.AuthKind.API_KEY_QUERY,
        connect_timeout=2,
        read_timeout=10,
    )
    conn.set_secret("fake-api-key")
    conn.save()
    client = SyncClient(
        name="keyed-next-url",
        connection=conn,
        handler="rest",
        config={**STYLES["next_url"], "page_size": PAGE},
    )
    client.full_clean()
    client.save()

    first = sync_fetch_here(client=client, who="tester", max_pages=1)
    run_wait_final(run_id=first.pk, timeout=60)
    client.refresh_from_db()
    second = run_now(client)

    body = json.loads(urlopen(f"{api.url}/auth/query/products/next?limit=50&api_key=fake-api-key").read())
    assert "api_key=fake-api-key" in body["links"]["next"], "the fake API echoes the key, as some do"
    assert "fake-api-key" not in json.dumps(client.checkpoint)
    assert client.checkpoint["next_url"].startswith(f"{api.url}/auth/query/products/next?limit=50&after=")
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert stored(client) == served(api)
