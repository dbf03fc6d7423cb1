"""The gateway against the fake API: bounded, retried when it may help, errors classified."""

from __future__ import annotations

import pytest

from fakeapi.control import FakeApi
from gateway.errors import AuthError, PayloadError, PermanentError, TransientError
from gateway.models import Connection
from gateway.session import GatewaySession

pytestmark = pytest.mark.django_db


def session(api: FakeApi, sleeps: list[float] | None = None, **fields: object) -> GatewaySession:
    conn = Connection(name="t", base_url=api.url, connect_timeout=2, read_timeout=5, **fields)
    return GatewaySession(conn, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_a_page_is_fetched_and_parsed(api: FakeApi) -> None:
    body = session(api).get_json("/products", {"page": 2, "per_page": 10})
    assert body["page"] == 2 and [r["id"] for r in body["data"]] == list(range(11, 21))


def test_503_is_retried_with_backoff_then_reported_as_transient(api: FakeApi) -> None:
    api.configure(fail_pages={"1": 503})
    sleeps: list[float] = []
    with pytest.raises(TransientError) as err:
        session(api, sleeps, max_retries=3).get_json("/products", {"page": 1})
    assert err.value.status == 503
    assert len(sleeps) == 3 and all(0 <= s <= 30 for s in sleeps)
    assert api.stats()["requests"] == 4


@pytest.mark.parametrize(("status", "kind"), [(401, AuthError), (403, AuthError), (404, PermanentError)])
def test_client_errors_are_not_retried(api: FakeApi, status: int, kind: type) -> None:
    api.configure(fail_pages={"1": status})
    with pytest.raises(kind):
        session(api, max_retries=3).get_json("/products", {"page": 1})
    assert api.stats()["requests"] == 1


def test_a_body_over_the_cap_is_refused(api: FakeApi) -> None:
    with pytest.raises(PayloadError, match="larger than"):
        session(api, max_body_bytes=2048).get_json("/products", {"page": 1, "per_page": 100})


def test_a_slow_server_hits_the_deadline_not_a_hang(api: FakeApi) -> None:
    api.configure(page_delay=3)
    with pytest.raises(TransientError, match="timed out"):
        GatewaySession(Connection(name="t", base_url=api.url, read_timeout=0.5, max_retries=0)).get_json(
            "/products"
        )


def test_a_closed_port_is_a_transient_connection_error() -> None:
    conn = Connection(name="t", base_url="http://127.0.0.1:9", connect_timeout=1, max_retries=0)
    with pytest.raises(TransientError, match="connection failed"):
        GatewaySession(conn).get_json("/x")
