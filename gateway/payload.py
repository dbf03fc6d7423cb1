"""Reading and judging answers: the body is read within the exchange's deadline and a cap on
its *decoded* size (decompressed here, in bounded steps, so a gzip bomb stops at the cap),
then parsed as strict JSON: UTF-8, no NaN/Infinity, no absurd nesting, no HTML."""

from __future__ import annotations

import json
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http.client import IncompleteRead as HttpIncompleteRead
from itertools import chain
from typing import Any

import orjson
from urllib3.exceptions import IncompleteRead, ProtocolError, ReadTimeoutError

from .errors import GatewayError, PayloadError, TransientError
from .transport import DeadlineGuard

CHUNK = 64 * 1024
MAX_DEPTH = 200
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
_CONTAINERS = frozenset((dict, list))


@dataclass(frozen=True)
class GatewayResponse:
    """A finished exchange. `url` is the final URL with credentials removed; `json` parses the
    body strictly on first use and raises PayloadError when it is not usable JSON."""

    status: int
    url: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    elapsed: float
    links: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def json(self) -> Any:
        return parse_json(self.body, self.headers.get("Content-Type", ""), self.url)


def read_body(raw: Any, headers: Mapping[str, str], *, cap: int, url: str, guard: DeadlineGuard) -> bytes:
    """The whole body, decoded, or a classified error. `raw` is urllib3's response."""
    declared = _content_length(headers)
    decoder = _decoder(headers.get("Content-Encoding", ""), url)
    if decoder is None and declared is not None and declared > cap:
        raise PayloadError(f"answer of {declared} bytes is larger than the {cap}-byte cap", url=url)
    out = bytearray()
    received = 0
    try:
        # read1 returns what has arrived, so the loop notices the deadline between reads.
        while chunk := raw.read1(CHUNK, decode_content=False):
            received += len(chunk)
            out += decoder.decompress(chunk, cap - len(out) + 1) if decoder else chunk
            if len(out) > cap:
                raise PayloadError(f"answer larger than the {cap}-byte cap (decoded)", url=url)
            if guard.fired:
                break
    except GatewayError:
        raise
    except (IncompleteRead, HttpIncompleteRead):
        received = -1  # judged below: truncated
    except ReadTimeoutError:
        raise TransientError("timed out reading the answer", url=url) from None
    except zlib.error:
        raise PayloadError("answer is not valid gzip/deflate data", url=url) from None
    except (ProtocolError, OSError, ValueError) as exc:
        if any(isinstance(a, IncompleteRead | HttpIncompleteRead) for a in exc.args):
            received = -1  # urllib3 wraps a short body in ProtocolError
        elif not guard.fired:
            raise TransientError(f"connection broke while reading: {type(exc).__name__}", url=url) from None
    if guard.fired:
        raise TransientError("total deadline exceeded while reading the answer", url=url)
    if received < 0 or (declared is not None and received < declared):
        raise PayloadError("answer truncated: fewer bytes than its Content-Length", url=url)
    if decoder is not None and not decoder.eof:
        raise PayloadError("answer truncated: the compressed stream ends early", url=url)
    return bytes(out)


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _decoder(encoding: str, url: str) -> Any:
    # We ask only for gzip/deflate (Accept-Encoding), so anything else is the server's error.
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in _WBITS:
        raise PayloadError(f"unsupported Content-Encoding {encoding[:40]!r}", url=url)
    return zlib.decompressobj(_WBITS[encoding])


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def where(exc: json.JSONDecodeError) -> str:
    """The decoder's complaint and its place. Several of its messages end in "at" ("Unterminated
    string starting at"), which it completes with the position itself: say it once."""
    return f"{exc.msg.removesuffix(' at')} at line {exc.lineno}, column {exc.colno} (character {exc.pos})"


def not_strict(exc: ValueError) -> str:
    """Python's words for a refused number, without its advice to raise a process limit."""
    text = str(exc)
    if "integer string conversion" in text:
        return f"an integer with more than {sys.get_int_max_str_digits()} digits"
    return text


def parse_json(body: bytes, content_type: str, url: str) -> Any:
    """Strict JSON or a PayloadError that says why (never quoting the body)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("text/html", "application/xhtml+xml"):
        raise PayloadError(f"answer is HTML ({media}), not JSON: an error page?", url=url)
    shape = body.translate(_SHAPE)
    value = _parsed_fast(body, shape)
    if value is not _SLOW:
        if not _nests_within(shape, value):
            raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels", url=url)
        return value
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PayloadError("answer is not UTF-8 text", url=url) from None
    if not text.strip():
        raise PayloadError("answer is empty, expected JSON", url=url)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels", url=url) from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"answer is not valid JSON: {where(exc)}", url=url) from None
    except ValueError as exc:  # NaN/Infinity, or an integer with absurdly many digits
        raise PayloadError(f"answer is not strict JSON: {not_strict(exc)}", url=url) from None
    if too_deep(value):
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels", url=url)
    return value


def _shape_byte(b: int) -> int:
    if 0x30 <= b <= 0x39:
        return 0x30
    if b in b"[{":
        return ord("[")
    if b in b"]}":
        return ord("]")
    return b if b in b'"\\' else 0x20


# A body's shape, one translate serving two checks: digits become "0" (a run of 19 zeros marks
# a number, or a digit run in a string, that orjson might read otherwise than json.loads:
# integers beyond 64 bits become floats), both kinds of bracket become [ and ], quotes and
# backslashes stay, every other byte becomes a space (see _nests_within).
_SHAPE = bytes(map(_shape_byte, range(256)))
_LONG_DIGIT_RUN = b"0" * 19
_SLOW = object()


def _nests_within(shape: bytes, value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed JSON nests no deeper than `limit`, from the body's shape where it can
    tell (about half the CPU of walking the parsed value with too_deep). Without backslashes,
    a bracket lies inside a string exactly when an odd number of quotes precede it; dropping
    adjacent quote pairs keeps that parity, so if no quote is left, every bracket left is
    structure. Each pass then removes the innermost containers (adjacent "[]"), one level a
    pass. Strings holding brackets, quotes or escapes: too_deep decides."""
    brackets = shape.translate(None, b" 0").replace(b'""', b"")
    if b'"' in brackets or b"\\" in brackets:
        return not too_deep(value, limit)
    depth = 0
    while brackets:
        depth += 1
        if depth > limit:
            return False
        brackets = brackets.replace(b"[]", b"")
    return True


def _parsed_fast(body: bytes, shape: bytes) -> Any:
    """orjson's value for `body` where it is exactly json.loads's (about three times as fast on
    a page of records), else _SLOW: json.loads then decides, with its own errors. orjson refuses
    what json.loads refuses (and lone surrogates, NaN, 1e400, a BOM, invalid UTF-8: json.loads
    then speaks); it reads integers of up to 18 digits as json.loads does, so a body with a
    longer run of digits anywhere goes the slow way."""
    if _LONG_DIGIT_RUN in shape:
        return _SLOW
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _SLOW


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed JSON nests containers deeper than `limit`: one level at a time, keeping
    only the containers (a page of flat records is two levels and a pass over its values),
    about a quarter of the CPU of the earlier scan of the text's brackets."""
    level: list[Any] = [value] if value.__class__ in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        children = chain.from_iterable(v.values() if v.__class__ is dict else v for v in level)
        level = [c for c in children if c.__class__ in _CONTAINERS]
    return False
