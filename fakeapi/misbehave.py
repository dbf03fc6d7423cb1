"""Answers a hostile or broken API gives: 429/5xx bursts with Retry-After, drips, truncated,
HTML, NaN, deep, huge and gzip-bomb bodies, redirects (off-origin, to the metadata address,
endless chains) and an echo of what arrived. Each writes its own reply through the handler."""

from __future__ import annotations

import email.utils
import json
import time
import zlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from fakeapi.exchange import Exchange

Query = dict[str, list[str]]
_MB = 1024 * 1024


def _arg(q: Query, name: str, default: str = "") -> str:
    return q.get(name, [default])[-1]


def _num(q: Query, name: str, default: float) -> float:
    raw = _arg(q, name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None


def flaky(h: Exchange, q: Query) -> None:
    """Fail the first `fail` calls per `key` with `status` (and Retry-After), then succeed."""
    key, fail, status = _arg(q, "key", "default"), int(_num(q, "fail", 1)), int(_num(q, "status", 503))
    with h.server.lock:
        seen = h.server.flaky.get(key, 0) + 1
        h.server.flaky[key] = seen
    if seen > fail:
        h.reply(200, {"ok": True, "attempts": seen})
        return
    headers = {}
    if "retry_after" in q:
        seconds = _num(q, "retry_after", 0)
        if _arg(q, "date") == "1":
            headers["Retry-After"] = email.utils.formatdate(time.time() + seconds, usegmt=True)
        else:
            headers["Retry-After"] = str(int(seconds))
    h.reply(status, {"error": "injected failure", "attempt": seen}, headers)


def drip(h: Exchange, q: Query) -> None:
    """One byte every `interval` seconds, in the body (default) or in the headers."""
    size, interval = int(_num(q, "size", 100)), _num(q, "interval", 0.5)
    body = b"[" + b" " * max(0, size - 2) + b"]"
    h.close_connection = True
    try:
        h.send_response(200)
        if _arg(q, "where") == "headers":
            h.wfile.write(b"X-Drip: ")
            for _ in range(size):
                h.wfile.write(b"a")
                h.wfile.flush()
                time.sleep(interval)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(len(body)):
            h.wfile.write(body[i : i + 1])
            h.wfile.flush()
            time.sleep(interval)
    except OSError:
        pass  # the client gave up, as it should


def truncated(h: Exchange, q: Query) -> None:
    """Half a JSON document: Content-Length promises more (mode=length) or none is sent and
    the connection closes (mode=close)."""
    body = json.dumps({"data": [{"id": i, "name": f"item {i}"} for i in range(1, 50)]}).encode()
    h.close_connection = True
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    if _arg(q, "mode", "length") == "length":
        h.send_header("Content-Length", str(len(body)))
    else:
        h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(body[: len(body) // 2])
    h.wfile.flush()


def raw(h: Exchange, q: Query) -> None:
    """A 200 that is not usable JSON: kind=html|invalid|nan|infinity|deep|empty."""
    kind = _arg(q, "kind", "html")
    depth = int(_num(q, "depth", 1000))
    bodies = {
        "html": ("text/html; charset=utf-8", b"<!doctype html><html><body>Maintenance</body></html>"),
        "invalid": ("application/json", b'{"data": [1, 2,'),
        "nan": ("application/json", b'{"data": [{"id": 1, "price": NaN}]}'),
        "infinity": ("application/json", b'{"data": [{"id": 1, "price": -Infinity}]}'),
        "deep": ("application/json", b"[" * depth + b"]" * depth),
        "empty": ("application/json", b""),
    }
    if kind not in bodies:
        raise ValueError(f"kind must be one of {sorted(bodies)}")
    ctype, body = bodies[kind]
    h.send_bytes(200, body, {"Content-Type": ctype})


def huge(h: Exchange, q: Query) -> None:
    """`mb` megabytes of valid JSON, with Content-Length or (chunked=1) without one."""
    size = int(_num(q, "mb", 60) * _MB)
    piece = b'"' + b"x" * 1022 + b'",'
    count = max(1, size // len(piece))
    chunked = _arg(q, "chunked") == "1"
    h.close_connection = True
    try:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(count * len(piece) + 1))
        h.end_headers()
        write = (lambda b: h.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))) if chunked else h.wfile.write
        write(b"[")
        remaining = count
        while remaining > 64:
            write(piece * 64)
            remaining -= 64
        write(piece * (remaining - 1) + piece[:-1] + b"]")
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass  # refused mid-way by the client's cap


@cache
def _bomb(mb: int, encoding: str) -> bytes:
    # Valid JSON once inflated: "[" + spaces + "]", so only the size cap can stop it.
    wbits = 31 if encoding == "gzip" else 15
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [comp.compress(b"[")]
    spaces = b" " * _MB
    parts += [comp.compress(spaces) for _ in range(mb)]
    parts.append(comp.compress(b"]") + comp.flush())
    return b"".join(parts)


def bomb(h: Exchange, q: Query) -> None:
    """A small compressed body that inflates to `mb` megabytes (encoding=gzip|deflate)."""
    encoding = _arg(q, "encoding", "gzip")
    if encoding not in ("gzip", "deflate"):
        raise ValueError("encoding must be gzip or deflate")
    body = _bomb(int(_num(q, "mb", 100)), encoding)
    h.send_bytes(200, body, {"Content-Type": "application/json", "Content-Encoding": encoding})


def redirect(h: Exchange, q: Query) -> None:
    """302 (or `code`) to `to`; keep_query=1 copies the other query parameters along, the way a
    careless API leaks an api key into Location."""
    target, code = _arg(q, "to"), int(_num(q, "code", 302))
    if not target:
        raise ValueError("to is required")
    if _arg(q, "keep_query") == "1":
        rest = {k: v for k, v in q.items() if k not in ("to", "code", "keep_query")}
        target += ("&" if "?" in target else "?") + urlencode(rest, doseq=True)
    h.send_bytes(code, b"", {"Location": target})


def chain(h: Exchange, q: Query) -> None:
    """/redirect/chain?n=K redirects K times, then answers."""
    n = int(_num(q, "n", 3))
    if n <= 0:
        h.reply(200, {"ok": True})
    else:
        h.send_bytes(302, b"", {"Location": f"/redirect/chain?n={n - 1}"})


def echo(h: Exchange, q: Query) -> None:
    """What arrived: method, path, query and headers, so tests can see leaked credentials."""
    h.reply(200, {"method": h.command, "path": h.path, "query": q, "headers": dict(h.headers.items())})


ROUTES: dict[str, Callable[[Exchange, Query], Any]] = {
    "/bad/flaky": flaky,
    "/bad/drip": drip,
    "/bad/truncated": truncated,
    "/bad/raw": raw,
    "/bad/huge": huge,
    "/bad/bomb": bomb,
    "/redirect": redirect,
    "/redirect/chain": chain,
    "/echo": echo,
}
