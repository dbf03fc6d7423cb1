"""The only module that speaks HTTP (and the only one importing requests). One session per
connection applies the whole network policy: credentials (auth.py) only to the connection's
own origins, one shared rate limit (ratelimit.py), retries with backoff and a budget
(retry.py), redirects followed by hand so every hop is checked and credentials never follow
one to another origin, the SSRF guard with pinned addresses and a total deadline per try
(transport.py, ssrf.py), a bounded body and strict JSON (payload.py). Every failure leaves
as a TransientError, AuthError, PermanentError or PayloadError, with a redacted URL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import parse_header_links

from . import metrics, ratelimit
from .auth import Authenticator, TokenRefused, basic_header
from .errors import AuthError, BlockedAddress, PermanentError, TransientError
from .models import Connection
from .payload import GatewayResponse, read_body
from .retry import RetryPolicy, error_for_status
from .ssrf import HostPolicy, check_target, check_url_shape
from .transport import DeadlineGuard, NetContext, PinnedPoolManager

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (
        scheme,
        (parts.hostname or "").lower().rstrip("."),
        parts.port or (443 if scheme == "https" else 80),
    )


class _PinnedAdapter(HTTPAdapter):
    """requests' adapter over the pinned, policy-checked pool manager (transport.py)."""

    def __init__(self, net: NetContext) -> None:
        self._net = net
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = PinnedPoolManager(
            self._net, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )


class GatewaySession:
    """A requests session bound to one connection's policy. Create with `session_for`."""

    def __init__(
        self, connection: Connection, *, sleep: Callable[[float], None] = time.sleep, retry: bool = True
    ) -> None:
        self.connection = connection
        self._sleep = sleep
        self._net = NetContext(HostPolicy.from_settings())
        self._http = requests.Session()
        # Proxies, .netrc and CA-bundle variables from the environment only when configured.
        self._http.trust_env = bool(settings.GATEWAY_TRUST_ENV)
        adapter = _PinnedAdapter(self._net)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._http.headers.update({"User-Agent": "xcoresite-gateway/0.2", "Accept-Encoding": "gzip, deflate"})
        self._http.headers.update(connection.headers or {})
        self._auth = Authenticator(connection, self._post_token)
        self._retry = RetryPolicy(
            max_retries=connection.max_retries if retry else 0,
            budget=connection.retry_budget,
            retry_after_cap=settings.GATEWAY_RETRY_AFTER_CAP,
        )
        self._home = origin(self.url_for(""))

    def __enter__(self) -> GatewaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def url_for(self, path: str) -> str:
        base = self.connection.base_url.rstrip("/") + "/"
        return urljoin(base, path.lstrip("/"))

    # --- Public API ----------------------------------------------------------------------
    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document (strictly parsed), with the connection's whole policy."""
        return self.get(path, params).json

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> GatewayResponse:
        """GET a path under the base URL, or an absolute URL (a next link) on the connection's
        origin or one of its allowed hosts. A 401 with an OAuth2 token refreshes it once."""
        url = self._target(path_or_url)
        query = {k: v for k, v in (self.connection.default_params or {}).items() if k not in _query_keys(url)}
        query.update(params or {})
        refreshed = False
        while True:
            try:
                return self._with_retries(url, query)
            except AuthError as exc:
                if (
                    exc.status != 401
                    or refreshed
                    or isinstance(exc, TokenRefused)
                    or not self._auth.refresh()
                ):
                    raise
                refreshed = True
                log.info("gateway %s: 401 with a cached token; fetching a new token once", self.connection)

    def post_json(self, path_or_url: str, payload: Any) -> GatewayResponse:
        """POST one JSON document (e.g. a webhook). Not idempotent: one try, no redirects."""
        url = self._target(path_or_url)
        self._auth.prepare()
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            return self._attempt("POST", url, None, form=body, content_type="application/json")
        except TransientError as exc:
            exc.retryable = False
            raise

    # --- One request, its retries and its redirects -------------------------------------
    def _with_retries(self, url: str, query: dict[str, Any]) -> GatewayResponse:
        attempt = 0
        while True:
            try:
                self._auth.prepare()
                return self._attempt("GET", url, query)
            except TransientError as exc:
                attempt += 1
                wait = self._retry.wait_before(exc, attempt)
                log.info(
                    "gateway %s: %s (%s); retry %d in %.2fs", self.connection, exc, exc.url, attempt, wait
                )
                self._sleep(wait)

    def _attempt(
        self,
        method: str,
        url: str,
        query: dict[str, Any] | None,
        *,
        form: Any = None,
        basic: Any = None,
        content_type: str | None = None,
    ) -> GatewayResponse:
        """One try: every redirect hop and the body within one total deadline."""
        if basic is None:  # waiting for a rate-limit slot is not the server's time
            ratelimit.acquire(self.connection, sleep=self._sleep)
        guard = DeadlineGuard(self.connection.total_timeout)
        self._net.guard = guard
        started = time.monotonic()
        trusted = basic is None and self._trusted(url)
        try:
            for hop in range(MAX_REDIRECTS + 1):
                if hop:
                    ratelimit.acquire(self.connection, sleep=self._sleep)
                resp = self._send(
                    method,
                    url,
                    query,
                    guard,
                    trusted=trusted,
                    form=form,
                    basic=basic,
                    content_type=content_type,
                )
                with resp:
                    location = resp.headers.get("Location") if resp.status_code in REDIRECT_STATUSES else None
                    if location is None:
                        return self._finish(resp, guard, started)
                if method != "GET":
                    raise PermanentError(f"{method} was redirected; not following", url=self._safe(url))
                target = urljoin(resp.url, location)
                check_url_shape(target)
                # Credentials never follow a redirect to another origin, for the rest of the chain.
                trusted = trusted and origin(target) == origin(url)
                url, query = self._strip_secret(target), None
            raise PermanentError(f"more than {MAX_REDIRECTS} redirects", url=self._safe(url))
        finally:
            guard.cancel()
            self._net.guard = None

    def _send(
        self,
        method: str,
        url: str,
        query: Any,
        guard: DeadlineGuard,
        *,
        trusted: bool,
        form: Any,
        basic: Any,
        content_type: str | None = None,
    ) -> requests.Response:
        check_url_shape(url)
        if self._http.trust_env:  # a proxy resolves for us, so pinning cannot apply: check first
            check_target(url, self._net.policy)
        full = requests.PreparedRequest()
        full.prepare_url(url, query)
        safe = self._safe(full.url or url)
        headers: dict[str, Any] = {}
        params = dict(query or {})
        if trusted:
            self._auth.apply(headers, params)
        else:
            headers.update(dict.fromkeys(self._auth.secret_headers & {h.lower() for h in self._http.headers}))
        if basic is not None:
            headers["Authorization"] = basic_header(*basic)
        if content_type:
            headers["Content-Type"] = content_type
        conn = self.connection
        timeout = (conn.connect_timeout, max(0.05, min(conn.read_timeout, guard.remaining())))
        try:
            return self._http.request(
                method, url, params=params, data=form, headers=headers,
                timeout=timeout, stream=True, allow_redirects=False,
            )  # fmt: skip
        except BlockedAddress as exc:
            raise BlockedAddress(str(exc), url=safe) from None
        except requests.ConnectTimeout:
            raise TransientError("timed out connecting", url=safe, retryable=True) from None
        except requests.ReadTimeout:
            raise self._timed_out(guard, safe) from None
        except requests.ConnectionError as exc:
            if guard.fired:
                raise self._timed_out(guard, safe) from None
            raise TransientError(
                f"connection failed: {type(exc).__name__}", url=safe, retryable=True
            ) from None
        except requests.RequestException as exc:
            raise PermanentError(f"request refused: {type(exc).__name__}", url=safe) from None

    def _finish(self, resp: requests.Response, guard: DeadlineGuard, started: float) -> GatewayResponse:
        safe = self._safe(resp.url)
        metrics.request_done(self.connection.name, resp.status_code)
        error = error_for_status(resp.status_code, resp.reason or "", resp.headers.get("Retry-After"), safe)
        if error is not None:
            raise error
        if 300 <= resp.status_code < 400:
            raise PermanentError(
                f"HTTP {resp.status_code} with nothing to follow", status=resp.status_code, url=safe
            )
        body = read_body(resp.raw, resp.headers, cap=self.connection.max_body_bytes, url=safe, guard=guard)
        links = {
            link["rel"]: self._strip_secret(urljoin(resp.url, link["url"]))
            for link in parse_header_links(resp.headers.get("Link", ""))
            if link.get("rel") and link.get("url")
        }
        return GatewayResponse(
            status=resp.status_code,
            url=safe,
            headers=CaseInsensitiveDict(resp.headers),
            body=body,
            elapsed=time.monotonic() - started,
            links=links,
        )

    def _post_token(self, url: str, form: dict[str, str], basic: tuple[str, str]) -> GatewayResponse:
        """The OAuth2 token request: one POST, no retries, no redirects, no connection auth."""
        try:
            return self._attempt("POST", url, None, form=form, basic=basic)
        except TransientError as exc:
            exc.retryable = False  # only idempotent requests are retried in place
            raise

    # --- Origins and redaction ----------------------------------------------------------
    def _target(self, path_or_url: str) -> str:
        if not urlsplit(path_or_url).scheme and not path_or_url.startswith("//"):
            return self._strip_secret(self.url_for(path_or_url))
        url = urljoin(self.url_for(""), path_or_url)
        check_url_shape(url)
        if not self._trusted(url):
            raise PermanentError(
                "refusing an absolute URL off this connection's origin and allowed hosts", url=self._safe(url)
            )
        return self._strip_secret(url)

    def _trusted(self, url: str) -> bool:
        """The base URL's origin, or an allowed host (over https, or the base URL's scheme)."""
        scheme, host, port = origin(url)
        if (scheme, host, port) == self._home:
            return True
        if scheme != "https" and scheme != self._home[0]:
            return False
        return any(h == host and p in (None, port) for h, p in self.connection.extra_hosts())

    def _strip_secret(self, url: str) -> str:
        name = self._auth.secret_param
        parts = urlsplit(url)
        if not name or not parts.query:
            return url
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name])
        return urlunsplit(parts._replace(query=query))

    def _safe(self, url: str) -> str:
        parts = urlsplit(self._strip_secret(url))
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=netloc, fragment=""))

    def _timed_out(self, guard: DeadlineGuard, safe: str) -> TransientError:
        if guard.fired or guard.remaining() <= 0:
            return TransientError(
                f"timed out: total deadline of {self.connection.total_timeout:g}s exceeded", url=safe
            )
        return TransientError("timed out waiting for the server", url=safe)


def _query_keys(url: str) -> set[str]:
    return {k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}


def session_for(connection: Connection, *, retry: bool = True) -> GatewaySession:
    """The one way to talk to a connection's API (retry=False: exactly one try, e.g. a test)."""
    return GatewaySession(connection, retry=retry)
