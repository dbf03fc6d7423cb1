"""HTTP front of the fake API, plus the /_control knobs tests use to steer it."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakeapi import listings, misbehave
from fakeapi.auth import KINDS, AuthState
from fakeapi.dataset import Dataset, parse_time

MAX_HITS = 20_000


class BadRequest(ValueError):
    """Raised for client mistakes so they become a 400 rather than a 500."""


@dataclass(frozen=True)
class Defaults:
    """CLI values that a bare reset returns to."""

    records: int = 250
    seed: int = 1
    page_delay: float = 0.0


def _int(value: Any, name: str, minimum: int | None = None) -> int:
    if type(value) is not int or (minimum is not None and value < minimum):
        raise BadRequest(f"{name} must be an integer >= {minimum}")
    return value


def _delay(value: Any) -> float:
    if type(value) not in (int, float) or not 0 <= value < 3600:
        raise BadRequest("page_delay must be a number of seconds >= 0")
    return float(value)


def _after(body: dict[str, Any]) -> int | None:
    after = body.get("after")
    return None if after is None else _int(after, "after", 0)


def _fail_pages(value: Any) -> dict[int, int]:
    if not isinstance(value, dict):
        raise BadRequest('fail_pages must be an object like {"3": 503}')
    try:
        pages = {int(k): v for k, v in value.items()}
    except ValueError:
        raise BadRequest("fail_pages keys must be page numbers") from None
    if any(type(v) is not int or not 400 <= v <= 599 for v in pages.values()):
        raise BadRequest("fail_pages statuses must be integers in 400..599")
    return pages


class FakeApiServer(ThreadingHTTPServer):
    """Holds all mutable state; a lock guards swaps and counters."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], defaults: Defaults) -> None:
        super().__init__(address, Handler)
        self.defaults = defaults
        self.lock = threading.Lock()
        self.auth = AuthState()
        self.reset({})

    def config(self) -> dict[str, Any]:
        return {
            "records": self.dataset.total,
            "seed": self.dataset.seed,
            "page_delay": self.page_delay,
            "fail_pages": {str(k): v for k, v in sorted(self.fail_pages.items())},
            "empty_listing": self.empty_listing,
        }

    def reset(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fresh data and counters per test, without paying for a new process."""
        d = self.defaults
        dataset = Dataset(
            _int(body.get("records", d.records), "records", 0),
            _int(body.get("seed", d.seed), "seed"),
        )
        delay = _delay(body.get("page_delay", d.page_delay))
        fail = _fail_pages(body.get("fail_pages", {}))
        self.auth.reset()
        with self.lock:
            self.dataset, self.page_delay, self.fail_pages = dataset, delay, fail
            self.empty_listing = False  # listings answer no records (a broken upstream)
            self.requests = 0
            self.pages: dict[int, int] = {}  # requests per page number
            # Arrival times (for rate-limit measurements) and per-key counters of /bad/flaky.
            self.hits: deque[tuple[float, str]] = deque(maxlen=MAX_HITS)
            self.calls: deque[tuple[str, str]] = deque(maxlen=MAX_HITS)  # (path, query)
            self.flaky: dict[str, int] = {}
            self.webhooks: list[dict[str, Any]] = []
            # Inserts and deletes waiting for a number of listing requests: (after, apply).
            self.changes: list[tuple[int, Callable[[], object]]] = []
            return self.config()

    def hit(self, path: str, query: str = "") -> None:
        with self.lock:
            self.hits.append((time.time(), path))
            self.calls.append((path, query))

    def call_log(self) -> dict[str, Any]:
        """Path and query parameters (last value of each) of recent requests, oldest first."""
        with self.lock:
            calls = list(self.calls)
        return {
            "calls": [
                {"path": p, "query": {k: v[-1] for k, v in parse_qs(q, keep_blank_values=True).items()}}
                for p, q in calls
            ]
        }

    def receive_webhook(self, body: dict[str, Any]) -> tuple[Any, ...]:
        """A webhook receiver for notification tests: keeps what arrived."""
        with self.lock:
            self.webhooks.append(body)
        return _json(200, {"ok": True})

    def hit_log(self) -> dict[str, Any]:
        with self.lock:
            return {"hits": list(self.hits)}

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Lets a test inject slowness or failures mid-sync."""
        delay = _delay(body.get("page_delay", self.page_delay))
        fail = _fail_pages(body.get("fail_pages", self.fail_pages))
        empty = body.get("empty_listing", self.empty_listing)
        if not isinstance(empty, bool):
            raise BadRequest("empty_listing must be true or false")
        with self.lock:
            self.page_delay, self.fail_pages, self.empty_listing = delay, fail, empty
            return self.config()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            pages = {str(k): v for k, v in sorted(self.pages.items())}
            return {"requests": self.requests, "pages": pages, "pending_changes": len(self.changes)}

    def apply_due(self) -> None:
        """Carry out the changes due before this listing request (the caller holds the lock
        and has counted it): deterministic points between page fetches, whatever the timing."""
        due = [c for c in self.changes if c[0] < self.requests]
        if due:
            self.changes = [c for c in self.changes if c[0] >= self.requests]
            for _, apply in due:
                apply()

    def _when(self, after: int | None, apply: Callable[[], object]) -> None:
        """Apply now, or between listing requests `after` and `after + 1`."""
        with self.lock:
            if after is None or after <= self.requests:
                apply()
            else:
                self.changes.append((after, apply))

    def delete(self, body: dict[str, Any]) -> dict[str, Any]:
        after, dataset = _after(body), self.dataset
        indexes = dataset.indexes(body.get("ids"))  # refused now, not silently when due
        self._when(after, lambda: dataset.delete_indexes(indexes))
        return {"deleted": [i + 1 for i in indexes]}

    def restore(self, body: dict[str, Any]) -> dict[str, Any]:
        """List deleted records again, at their old places."""
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise BadRequest("ids must be a list of record ids")
        return {"restored": self.dataset.restore([i - 1 for i in ids])}

    def insert(self, body: dict[str, Any]) -> dict[str, Any]:
        after, dataset = _after(body), self.dataset
        at = dataset.check_position(body.get("at"))
        indexes = dataset.reserve(body.get("count", 1), body.get("fields") or {})
        self._when(after, lambda: dataset.place(at, indexes))
        return {"ids": [i + 1 for i in indexes]}

    def all_records(self) -> bytes:
        """The oracle tests compare a finished sync against."""
        return self.dataset.all_json().encode()

    def gone_records(self) -> bytes:
        """Records deleted after a listing served them, at the version last served."""
        return self.dataset.gone_json().encode()

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        ids, fields = body.get("ids", []), body.get("fields") or {}
        if not isinstance(ids, list) or not isinstance(fields, dict):
            raise BadRequest("ids must be a list and fields an object")
        after, dataset = _after(body), self.dataset
        dataset.indexes(ids)  # refused now, not silently when due
        self._when(after, lambda: dataset.update(ids, fields))
        return {"updated": sorted(set(ids))}

    def touch(self, body: dict[str, Any]) -> dict[str, Any]:
        ids, fields, at = body.get("ids", []), body.get("fields") or {}, body.get("at")
        if (
            not isinstance(ids, list)
            or not isinstance(fields, dict)
            or not (at is None or isinstance(at, str))
        ):
            raise BadRequest("ids must be a list, fields an object and at a timestamp string")
        after, dataset = _after(body), self.dataset
        if after is None:
            return {"updated_at": dataset.touch(ids, fields, at)}
        if at is None or parse_time(at) is None:
            raise BadRequest("a touch with after needs at, an ISO 8601 timestamp")
        dataset.indexes(ids)
        self._when(after, lambda: dataset.touch(ids, fields, at))
        return {"updated_at": at}

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        if "record" not in body:
            raise BadRequest("record is required")
        self.dataset.replace(body.get("index"), body["record"])
        return {"replaced": body["index"]}

    def products(self, query: str) -> tuple[int, bytes, dict[str, str]]:
        """Page-numbered listing (see fakeapi.listings); counted before the delay so tests can
        see requests that are in flight."""
        return listings.products(self, query)


def _json(status: int, value: Any) -> tuple[int, bytes]:
    return status, json.dumps(value).encode()


Route = Callable[[FakeApiServer, str, dict[str, Any]], tuple[Any, ...]]

ROUTES: dict[str, tuple[str, Route]] = {
    "/products": ("GET", lambda s, q, b: s.products(q)),
    "/catalog/products": ("GET", lambda s, q, b: listings.products(s, q, catalog=True)),
    "/catalog/categories": ("GET", lambda s, q, b: listings.categories(s, q)),
    "/catalog/tags": ("GET", lambda s, q, b: listings.tags(s, q)),
    "/_control/restore": ("POST", lambda s, q, b: _json(200, s.restore(b))),
    "/": ("GET", lambda s, q, b: _json(200, {"ok": True, "name": "fakeapi"})),
    "/health": ("GET", lambda s, q, b: _json(200, {"ok": True})),
    "/_control/stats": ("GET", lambda s, q, b: _json(200, s.stats())),
    "/_control/records": ("GET", lambda s, q, b: (200, s.all_records())),
    "/_control/reset": ("POST", lambda s, q, b: _json(200, s.reset(b))),
    "/_control/config": ("POST", lambda s, q, b: _json(200, s.configure(b))),
    "/_control/update": ("POST", lambda s, q, b: _json(200, s.update(b))),
    "/_control/replace": ("POST", lambda s, q, b: _json(200, s.replace(b))),
    "/_control/auth": ("POST", lambda s, q, b: _json(200, s.auth.configure(b))),
    "/_control/hits": ("GET", lambda s, q, b: _json(200, s.hit_log())),
    "/_control/calls": ("GET", lambda s, q, b: _json(200, s.call_log())),
    "/_control/touch": ("POST", lambda s, q, b: _json(200, s.touch(b))),
    "/_control/delete": ("POST", lambda s, q, b: _json(200, s.delete(b))),
    "/_control/insert": ("POST", lambda s, q, b: _json(200, s.insert(b))),
    "/_control/gone": ("GET", lambda s, q, b: (200, s.gone_records())),
    "/webhook": ("POST", lambda s, q, b: s.receive_webhook(b)),
    "/_control/webhooks": ("GET", lambda s, q, b: _json(200, {"received": s.webhooks})),
}


class Handler(BaseHTTPRequestHandler):
    """Keep-alive JSON handler; Nagle off so small responses are not delayed."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FakeApiServer
    mount = ""  # "/auth/<kind>" while serving an authenticated path

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: per-request lines would swamp test output and slow benchmarks."""

    def do_GET(self) -> None:
        self._dispatch("GET", b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit() or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # body framing unknown: cannot keep alive
            self._send(400, b'{"error":"Content-Length required"}')
            return
        self._dispatch("POST", self.rfile.read(int(length)))

    def _dispatch(self, method: str, raw: bytes, inner: bool = False) -> None:
        url = urlsplit(self.path)
        if not inner and not url.path.startswith("/_control/"):
            self.server.hit(url.path, url.query)
        if url.path.startswith("/auth/"):
            self._authenticated(method, url.path, url.query, raw)
            return
        if url.path == "/oauth/token" and method == "POST":
            self.reply(*self.server.auth.issue_token(self.headers, raw))
            return
        extra = misbehave.ROUTES.get(url.path) or listings.ROUTES.get(url.path)
        if extra is not None and method == "GET":
            try:
                extra(self, parse_qs(url.query, keep_blank_values=True))
            except ValueError as exc:
                self.reply(400, {"error": str(exc)})
            return
        route = ROUTES.get(url.path)
        if route is None:
            status, body = _json(404, {"error": f"no such path: {url.path}"})
        elif route[0] != method:
            status, body = _json(405, {"error": f"use {route[0]} for {url.path}"})
        else:
            try:
                parsed = json.loads(raw) if raw.strip() else {}
                if not isinstance(parsed, dict):
                    raise BadRequest("request body must be a JSON object")
                status, body, *extra_headers = route[1](self.server, url.query, parsed)
            except ValueError as exc:  # includes BadRequest and JSONDecodeError
                status, body = _json(400, {"error": str(exc)})
            except Exception as exc:  # a reply beats a dropped connection in tests
                status, body = _json(500, {"error": repr(exc)})
            else:
                self._send(status, body, extra_headers[0] if extra_headers else None)
                return
        self._send(status, body)

    def _authenticated(self, method: str, path: str, query: str, raw: bytes) -> None:
        """/auth/<kind>/<rest>: check the credential of <kind>, then serve /<rest>."""
        kind, _, rest = path.removeprefix("/auth/").partition("/")
        if kind not in KINDS:
            self.reply(404, {"error": f"auth kind must be one of {list(KINDS)}"})
        elif not self.server.auth.check(kind, self.headers, query):
            self.reply(
                401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer" if kind != "basic" else "Basic"}
            )
        else:
            self.path = f"/{rest}" + (f"?{query}" if query else "")
            self.mount = f"/auth/{kind}"
            self._dispatch(method, raw, inner=True)

    def reply(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def send_json(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """An already serialised JSON body."""
        self._send(status, body, headers)

    def absolute(self, path: str) -> str:
        """This server's absolute URL for `path`, under the same /auth/<kind> mount."""
        return f"http://{self.headers.get('Host', '127.0.0.1')}{self.mount}{path}"

    def send_bytes(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Like _send, but the caller owns Content-Type (and any other header)."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, body, {"Content-Type": "application/json", **(headers or {})})
