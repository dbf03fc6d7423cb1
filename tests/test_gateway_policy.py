"""The gateway's network policy against a misbehaving fake API over real HTTP: every bad
answer ends in the right classified error, quickly, and retries follow the rules."""

from __future__ import annotations

import json
import socket
import time
from email.utils import formatdate

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeapi.control import FakeApi
from gateway.errors import BlockedAddress, PayloadError, PermanentError, TransientError
from gateway.models import Connection
from gateway.payload import parse_json
from gateway.retry import parse_retry_after
from gateway.session import GatewaySession

pytestmark = pytest.mark.django_db


def session(api: FakeApi, sleeps: list[float] | None = None, **fields: object) -> GatewaySession:
    fields = {"connect_timeout": 2, "read_timeout": 5, **fields}
    conn = Connection(name="policy", base_url=api.url, **fields)
    return GatewaySession(conn, sleep=sleeps.append if sleeps is not None else lambda s: None)


def fails_fast(call, kind: type[Exception], within: float = 5.0, match: str | None = None) -> Exception:
    started = time.monotonic()
    with pytest.raises(kind, match=match) as err:
        call()
    assert time.monotonic() - started < within
    return err.value


# --- Bounded: deadlines and body caps --------------------------------------------------------
@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_dripping_server_is_cut_off_at_the_total_deadline(api: FakeApi, where: str) -> None:
    # One byte every 0.2 s never trips the 5 s read timeout; only the 1.5 s deadline stops it.
    s = session(api, total_timeout=1.5, max_retries=0)
    started = time.monotonic()
    err = fails_fast(lambda: s.get(f"/bad/drip?size=200&interval=0.2&where={where}"), TransientError, 4)
    assert "deadline" in str(err)
    assert 1.4 < time.monotonic() - started < 3


def test_a_body_declared_over_the_cap_is_refused_before_reading(api: FakeApi) -> None:
    err = fails_fast(lambda: session(api).get("/bad/huge?mb=60"), PayloadError, 2, "larger than")
    assert "62914" in str(err)  # the declared size, refused without reading 60 MB


def test_an_undeclared_huge_body_stops_at_the_cap(api: FakeApi) -> None:
    s = session(api, max_body_bytes=5 * 1024 * 1024)
    fails_fast(lambda: s.get("/bad/huge?mb=60&chunked=1"), PayloadError, 5, "larger than")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_decoded_cap(api: FakeApi, encoding: str) -> None:
    # About 100 KB on the wire, 100 MB inflated: the cap counts decoded bytes.
    s = session(api, max_body_bytes=10 * 1024 * 1024)
    fails_fast(lambda: s.get(f"/bad/bomb?mb=100&encoding={encoding}"), PayloadError, 10, r"cap \(decoded\)")


def test_a_small_compressed_body_is_decoded(api: FakeApi) -> None:
    body = session(api).get("/bad/bomb?mb=1").json
    assert body == []


# --- Strict JSON ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/bad/raw?kind=html", "HTML"),
        ("/bad/raw?kind=invalid", "not valid JSON"),
        ("/bad/raw?kind=nan", "NaN"),
        ("/bad/raw?kind=infinity", "Infinity"),
        ("/bad/raw?kind=deep&depth=201", "nested deeper"),
        ("/bad/raw?kind=deep&depth=100000", "nested deeper"),
        ("/bad/raw?kind=empty", "empty"),
        ("/bad/truncated?mode=length", "truncated"),
        ("/bad/truncated?mode=close", "not valid JSON"),
    ],
)
def test_unusable_answers_are_payload_errors(api: FakeApi, path: str, match: str) -> None:
    fails_fast(lambda: session(api, max_retries=0).get_json(path), PayloadError, 3, match)


def test_nesting_up_to_the_limit_is_fine(api: FakeApi) -> None:
    assert isinstance(session(api).get_json("/bad/raw?kind=deep&depth=200"), list)


@pytest.mark.parametrize(
    ("body", "fine"),
    [
        # Objects and arrays both count; brackets inside strings do not.
        ('{"a":[' * 100 + '"]]]{{{"' + "]}" * 100, True),  # 200 levels
        ("[" + '{"a":[' * 100 + '"]]]{{{"' + "]}" * 100 + "]", False),  # 201
        ('[["' + "[{" * 300 + '"]]', True),
        ('[{"x": 1}, ' + "[" * 201 + "]" * 201 + "]", False),  # deep beside shallow
    ],
)
def test_nesting_depth_counts_containers_only(body: str, fine: bool) -> None:
    if fine:
        parse_json(body.encode(), "application/json", "http://api.test/")
    else:
        with pytest.raises(PayloadError, match="nested deeper than 200 levels"):
            parse_json(body.encode(), "application/json", "http://api.test/")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_a_body_parses_to_exactly_what_json_loads_gives(value: object, ascii_only: bool) -> None:
    """parse_json reads most bodies with orjson (speed) and must give json.loads's value, types
    included: integers beyond 64 bits stay integers, -0.0 stays a float, text stays text."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    parsed = parse_json(body, "application/json", "http://api.test/")
    assert repr(parsed) == repr(json.loads(body))


BRACKETY_TEXT = st.text(alphabet='[]{}"\\ax\u00e9', max_size=6)
NESTED = st.recursive(
    st.none() | st.integers() | BRACKETY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(BRACKETY_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(NESTED, st.integers(min_value=0, max_value=6), st.booleans(), st.booleans())
def test_the_depth_read_from_a_bodys_shape_is_the_parsed_values_depth(
    value: object, limit: int, ascii_only: bool, spaced: bool
) -> None:
    """The nesting check reads the body's bytes where it can (speed); strings holding
    brackets, quotes or escapes must not fool it, at any limit."""
    from gateway.payload import _SHAPE, _nests_within, too_deep

    separators = (", ", ": ") if spaced else (",", ":")
    body = json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode()
    assert _nests_within(body.translate(_SHAPE), value, limit) is (not too_deep(value, limit))


@pytest.mark.parametrize(
    "body", [b'{"id": 18446744073709551616}', b"[-9223372036854775809]", b'{"n": 12345678901234567890123}']
)
def test_integers_beyond_64_bits_stay_exact(body: bytes) -> None:
    assert repr(parse_json(body, "application/json", "http://api.test/")) == repr(json.loads(body))


def test_payload_errors_are_not_retried(api: FakeApi) -> None:
    sleeps: list[float] = []
    with pytest.raises(PayloadError):
        session(api, sleeps, max_retries=3).get_json("/bad/raw?kind=html")
    assert sleeps == []


# --- Retries ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_burst_of_retryable_failures_is_retried_with_growing_jittered_backoff(
    api: FakeApi, status: int
) -> None:
    sleeps: list[float] = []
    body = session(api, sleeps, max_retries=3).get_json(f"/bad/flaky?key=s{status}&fail=3&status={status}")
    assert body == {"ok": True, "attempts": 4}
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.5 * 2**n for n, s in enumerate(sleeps, start=1)), sleeps


def test_full_jitter_spreads_the_waits(api: FakeApi) -> None:
    sleeps: list[float] = []
    for n in range(8):
        session(api, sleeps, max_retries=1).get_json(f"/bad/flaky?key=j{n}&fail=1&status=503")
    assert len(set(sleeps)) == 8 and max(sleeps) <= 1.0


def test_a_500_is_transient_but_not_retried_in_place(api: FakeApi) -> None:
    sleeps: list[float] = []
    err = fails_fast(
        lambda: session(api, sleeps).get("/bad/flaky?key=f500&fail=5&status=500"), TransientError
    )
    assert err.status == 500 and not err.retryable and sleeps == []


def test_the_retry_budget_caps_retries_across_one_session(api: FakeApi) -> None:
    sleeps: list[float] = []
    s = session(api, sleeps, max_retries=3, retry_budget=4)
    s.get_json("/bad/flaky?key=b1&fail=3&status=503")  # spends 3 of 4
    with pytest.raises(TransientError):
        s.get_json("/bad/flaky?key=b2&fail=3&status=503")  # one more retry, then the budget is gone
    assert len(sleeps) == 4
    assert api.stats()["requests"] == 0  # /bad/* is not /products
    assert [p for _, p in api.hits()].count("/bad/flaky") == 6


def test_a_closed_port_is_retried_as_a_connect_error() -> None:
    sleeps: list[float] = []
    conn = Connection(name="closed", base_url="http://127.0.0.1:9", connect_timeout=1, max_retries=2)
    with pytest.raises(TransientError, match="connection failed") as err:
        GatewaySession(conn, sleep=sleeps.append).get("/x")
    assert err.value.retryable and len(sleeps) == 2


def test_a_read_timeout_is_not_retried_in_place(api: FakeApi) -> None:
    api.configure(page_delay=2)
    sleeps: list[float] = []
    fails_fast(
        lambda: session(api, sleeps, read_timeout=0.3).get("/products"), TransientError, 3, "timed out"
    )
    assert sleeps == []


# --- Retry-After ---------------------------------------------------------------------------
@pytest.mark.parametrize("as_date", [False, True])
def test_retry_after_within_the_cap_is_slept_through(api: FakeApi, as_date: bool) -> None:
    sleeps: list[float] = []
    date = "&date=1" if as_date else ""
    body = session(api, sleeps).get_json(f"/bad/flaky?key=ra{as_date}&fail=1&status=429&retry_after=3{date}")
    assert body["attempts"] == 2
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.0  # an HTTP date has one-second granularity


@pytest.mark.parametrize(("status", "as_date"), [(429, False), (503, True)])
@override_settings(GATEWAY_RETRY_AFTER_CAP=10)
def test_retry_after_over_the_cap_raises_at_once_with_retry_after(
    api: FakeApi, status: int, as_date: bool
) -> None:
    sleeps: list[float] = []
    date = "&date=1" if as_date else ""
    path = f"/bad/flaky?key=long{status}&fail=1&status={status}&retry_after=600{date}"
    err = fails_fast(lambda: session(api, sleeps).get(path), TransientError, 2)
    assert err.status == status and 598 <= err.retry_after <= 600
    assert sleeps == [], "a long Retry-After is the caller's pause, not a sleeping worker"


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("") is None and parse_retry_after("soon") is None
    in_a_minute = parse_retry_after(formatdate(time.time() + 60, usegmt=True))
    assert in_a_minute is not None and 58 <= in_a_minute <= 60
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0


# --- Redirects and the SSRF guard ------------------------------------------------------------
def test_a_short_redirect_chain_is_followed_and_a_long_one_refused(api: FakeApi) -> None:
    assert session(api).get("/redirect/chain?n=5").json == {"ok": True}
    fails_fast(lambda: session(api).get("/redirect/chain?n=6"), PermanentError, 3, "more than 5 redirects")


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.64.0.1/",
        "http://10.0.0.1/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
    ],
)
def test_a_redirect_to_a_refused_address_is_blocked_before_connecting(api: FakeApi, target: str) -> None:
    err = fails_fast(lambda: session(api).get(f"/redirect?to={target}"), BlockedAddress, 2)
    assert "network policy" in str(err)


@override_settings(GATEWAY_ALLOWED_HOSTS=[])
def test_loopback_is_refused_when_not_allowed_by_settings(api: FakeApi) -> None:
    fails_fast(lambda: session(api).get("/health"), BlockedAddress, 2, "loopback")
    assert api.hits() == [], "refused before any connection"


@override_settings(GATEWAY_ALLOWED_HOSTS=["127.0.0.0/8"])
def test_a_network_in_settings_allows_its_addresses(api: FakeApi) -> None:
    assert session(api).get_json("/health") == {"ok": True}


@override_settings(GATEWAY_ALLOWED_HOSTS=[])
def test_a_connections_own_allowed_hosts_do_not_open_private_ranges(api: FakeApi) -> None:
    s = session(api, allowed_hosts="127.0.0.1\nlocalhost")
    fails_fast(lambda: s.get("/health"), BlockedAddress, 2)


def test_absolute_urls_must_stay_on_the_origin_or_allowed_hosts(api: FakeApi) -> None:
    port = api.url.rsplit(":", 1)[1]
    s = session(api)
    assert s.get(f"{api.url}/health").json == {"ok": True}
    with pytest.raises(PermanentError, match="off this connection's origin"):
        s.get(f"http://localhost:{port}/health")
    allowed = session(api, allowed_hosts=f"localhost:{port}")
    assert allowed.get(f"http://localhost:{port}/health").json == {"ok": True}


def test_link_header_pagination_through_get(api: FakeApi) -> None:
    s = session(api)
    response = s.get("/products", {"per_page": 100})
    seen = [r["id"] for r in response.json["data"]]
    while "next" in response.links:
        response = s.get(response.links["next"])
        seen += [r["id"] for r in response.json["data"]]
    assert seen == list(range(1, 251))
    assert response.status == 200 and response.elapsed > 0 and response.url.endswith("page=3&per_page=100")
    assert response.headers["content-type"] == "application/json"


def test_default_params_are_sent_and_call_params_win(api: FakeApi) -> None:
    s = session(api, default_params={"lang": "en", "per_page": 5})
    echoed = s.get_json("/echo", {"per_page": 7})
    assert echoed["query"] == {"lang": ["en"], "per_page": ["7"]}


def test_proxies_from_the_environment_are_ignored_unless_enabled(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert session(api).get_json("/health") == {"ok": True}
    with override_settings(GATEWAY_TRUST_ENV=True), pytest.raises(TransientError, match="connection failed"):
        session(api, max_retries=0).get_json("/health")


def test_the_connection_goes_to_the_address_that_was_checked(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 once, then 10.0.0.1. The gateway resolves once,
    checks, and connects to that very address; nothing resolves the name a second time."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host: str, *args: object, **kw: object) -> list:
        if host == "api.rebind.test":
            return real(next(answers, "10.0.0.1"), *args, **kw)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = api.url.rsplit(":", 1)[1]
    conn = Connection(
        name="rebind", base_url=f"http://api.rebind.test:{port}", connect_timeout=1, max_retries=0
    )
    with override_settings(GATEWAY_ALLOWED_HOSTS=["127.0.0.1"]):
        assert GatewaySession(conn).get_json("/health") == {"ok": True}
        # A new session resolves again and now gets the private address: refused, not connected.
        with pytest.raises(BlockedAddress, match=r"10\.0\.0\.1"):
            GatewaySession(conn).get_json("/health")
