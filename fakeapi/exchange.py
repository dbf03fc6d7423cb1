"""What the extra routes (fakeapi.listings, fakeapi.misbehave) need from the server and from
the request they answer, as protocols: the routes sit below fakeapi.server, which implements
these and dispatches to the routes, so the imports point one way only."""

from __future__ import annotations

import email.message
import threading
from io import BufferedIOBase
from typing import Any, Protocol

from fakeapi.dataset import Dataset


class ServerState(Protocol):
    """The mutable state of a running fake API (FakeApiServer); `lock` guards it."""

    lock: threading.Lock
    dataset: Dataset
    page_delay: float
    fail_pages: dict[int, int]
    empty_listing: bool
    requests: int
    pages: dict[int, int]
    flaky: dict[str, int]

    def apply_due(self) -> None: ...


class Exchange(Protocol):
    """One request being answered (fakeapi.server.Handler)."""

    close_connection: bool
    command: str
    path: str
    headers: email.message.Message
    wfile: BufferedIOBase

    @property
    def server(self) -> ServerState: ...

    def send_response(self, code: int, message: str | None = None) -> None: ...

    def send_header(self, keyword: str, value: str) -> None: ...

    def end_headers(self) -> None: ...

    def reply(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None: ...

    def send_json(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None: ...

    def absolute(self, path: str) -> str: ...

    def send_bytes(self, status: int, body: bytes, headers: dict[str, str]) -> None: ...
