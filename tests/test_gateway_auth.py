"""Every auth kind against the fake API's protected endpoints; OAuth2 tokens cached and
refreshed once; credentials never follow a redirect to another origin; a canary secret never
shows up in logs, errors or URLs."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest

from fakeapi.control import FakeApi
from gateway.errors import AuthError, GatewayError, TransientError
from gateway.models import Connection
from gateway.session import GatewaySession

pytestmark = pytest.mark.django_db

KIND = Connection.AuthKind
# fake API path segment, auth kind, username/client id, secret the fake API expects
KINDS = {
    "bearer": (KIND.BEARER, "", "fake-bearer-token"),
    "basic": (KIND.BASIC, "fake-user", "fake-pass"),
    "header": (KIND.API_KEY_HEADER, "", "fake-api-key"),
    "query": (KIND.API_KEY_QUERY, "", "fake-api-key"),
    "oauth": (KIND.OAUTH2, "fake-client", "fake-client-secret"),
}


@pytest.fixture(scope="module")
def other() -> Iterator[FakeApi]:
    """A second server: another origin (other port) to redirect to."""
    api = FakeApi.start(records=10)
    yield api
    api.stop()


def connection(api: FakeApi, segment: str, secret: str | None = None, **fields: object) -> Connection:
    kind, username, expected = KINDS[segment]
    conn = Connection(
        name=f"auth-{segment}-{uuid.uuid4().hex[:6]}",
        base_url=f"{api.url}/auth/{segment}",
        auth_kind=kind,
        auth_username=username,
        token_url=f"{api.url}/oauth/token" if kind == KIND.OAUTH2 else "",
        connect_timeout=2,
        read_timeout=5,
        **fields,
    )
    conn.set_secret(expected if secret is None else secret)
    conn.save()
    return conn


def session(conn: Connection) -> GatewaySession:
    return GatewaySession(conn, sleep=lambda s: None)


@pytest.mark.parametrize("segment", list(KINDS))
def test_each_auth_kind_reaches_its_protected_endpoint(api: FakeApi, segment: str) -> None:
    body = session(connection(api, segment)).get_json("/products", {"per_page": 3})
    assert [r["id"] for r in body["data"]] == [1, 2, 3]


@pytest.mark.parametrize("segment", list(KINDS))
def test_a_wrong_secret_is_an_auth_error_without_retries(api: FakeApi, segment: str) -> None:
    with pytest.raises(AuthError):
        session(connection(api, segment, secret="wrong")).get_json("/products")
    assert len(api.hits()) <= 2  # the request (and for OAuth2 only the token request)


def test_an_oauth_token_is_fetched_once_and_reused_across_sessions(api: FakeApi) -> None:
    conn = connection(api, "oauth")
    for _ in range(3):
        with session(conn) as s:
            s.get_json("/products", {"per_page": 1})
            s.get_json("/products", {"per_page": 1})
    assert api.auth()["token_requests"] == 1


def test_an_oauth_token_is_renewed_shortly_before_it_expires(api: FakeApi) -> None:
    api.auth(token_ttl=1.5)
    s = session(connection(api, "oauth"))
    s.get_json("/products", {"per_page": 1})
    time.sleep(1.5)  # 10% margin: the client renews at 1.35 s, before the server expires it
    s.get_json("/products", {"per_page": 1})
    assert api.auth()["token_requests"] == 2 and api.auth()["rejected"] == 0


def test_a_revoked_oauth_token_is_refreshed_once_after_a_401(api: FakeApi) -> None:
    s = session(connection(api, "oauth"))
    s.get_json("/products", {"per_page": 1})
    api.auth(revoke=True)
    s.get_json("/products", {"per_page": 1})
    state = api.auth()
    assert (state["token_requests"], state["rejected"]) == (2, 1)


def test_a_token_that_keeps_failing_ends_in_auth_error_after_one_refresh(api: FakeApi) -> None:
    api.auth(accept_tokens=False)  # every token is refused, however fresh
    with pytest.raises(AuthError, match="401"):
        session(connection(api, "oauth")).get_json("/products")
    assert api.auth()["token_requests"] == 2


def test_the_token_endpoint_refusing_the_client_is_an_auth_error(api: FakeApi) -> None:
    with pytest.raises(AuthError, match="token endpoint refused"):
        session(connection(api, "oauth", secret="wrong")).get_json("/products")


# --- Credentials and redirects -------------------------------------------------------------
@pytest.mark.parametrize("segment", list(KINDS))
def test_credentials_do_not_follow_a_redirect_to_another_origin(
    api: FakeApi, other: FakeApi, segment: str
) -> None:
    s = session(connection(api, segment))
    # keep_query=1: the API copies our query (an api key too) into Location; it must be dropped.
    echoed = s.get_json("/redirect", {"to": f"{other.url}/echo", "keep_query": "1"})
    assert echoed["path"].startswith("/echo")
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert "authorization" not in headers and "x-api-key" not in headers
    assert "api_key" not in echoed["query"]
    assert "fake-" not in str(echoed)


def test_credentials_follow_a_redirect_within_the_origin(api: FakeApi) -> None:
    s = session(connection(api, "bearer"))
    body = s.get_json("/redirect", {"to": "/auth/bearer/products?per_page=2"})
    assert len(body["data"]) == 2


def test_credentials_do_not_come_back_after_leaving_the_origin(api: FakeApi, other: FakeApi) -> None:
    s = session(connection(api, "bearer"))
    back = f"{other.url}/redirect?to={api.url}/auth/bearer/products"
    with pytest.raises(AuthError, match="401"):
        s.get_json("/redirect", {"to": back})


# --- The canary ----------------------------------------------------------------------------
def test_a_canary_secret_never_appears_in_logs_errors_or_urls(
    api: FakeApi, other: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    api.auth(api_key=canary, bearer=canary)
    caplog.set_level(logging.DEBUG)  # urllib3 logs request lines (with query strings) at DEBUG
    seen: list[str] = []
    for segment in ("query", "bearer"):
        conn = connection(api, segment, secret=canary, max_retries=2)
        assert canary not in repr(conn) and canary not in str(conn.__dict__)
        s = GatewaySession(conn, sleep=lambda s: None)
        response = s.get("/products", {"per_page": 2})
        seen += [response.url, repr(response), str(response.links), str(dict(response.headers))]
        for path in (
            "/bad/flaky?key=c1&fail=5&status=503",
            "/bad/truncated",
            "/bad/raw?kind=html",
            "/redirect?to=http://169.254.169.254/&keep_query=1",
            f"/redirect?to={other.url}/bad/flaky%3Fkey%3Dc2%26fail%3D9%26status%3D401&keep_query=1",
        ):
            try:
                s.get(path)
            except GatewayError as exc:
                seen += [str(exc), repr(exc), exc.url, repr(exc.__cause__), repr(exc.__context__)]
        with pytest.raises(AuthError) as wrong:
            session(connection(api, segment, secret=canary + "x")).get("/products")
        seen += [str(wrong.value), wrong.value.url]
    assert any("HTTP 503" in s for s in seen) and caplog.records
    assert all(canary not in s for s in seen)
    assert canary not in caplog.text
    assert all(canary not in str(r.args) for r in caplog.records)


def test_a_failing_token_request_is_transient_and_not_retried_in_place(api: FakeApi) -> None:
    conn = connection(api, "oauth", max_retries=3)
    conn.token_url = "http://127.0.0.1:9/token"  # nothing listens: a connect error
    sleeps: list[float] = []
    with pytest.raises(TransientError, match="connection failed") as err:
        GatewaySession(conn, sleep=sleeps.append).get_json("/products")
    assert not err.value.retryable and sleeps == [], "a POST is not retried"
