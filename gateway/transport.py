"""urllib3 plumbing under the gateway session: connections that resolve once, check every
address against the SSRF policy and connect to the checked address (pinning it, so DNS
cannot change between check and connect), and a deadline guard that shuts the socket of an
exchange down when its total wall-clock deadline passes. Socket timeouts alone cannot bound
a server that drips one byte per read timeout, in the body or in the headers."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as u3connection

from .ssrf import HostPolicy


class DeadlineGuard:
    """One per exchange: at the deadline, every socket attached to it is shut down, so a
    blocked read returns at once and the worker is free."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if self.fired:
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()


def _shutdown(sock: socket.socket) -> None:
    # The plain socket method, so an SSLSocket's state is left alone for its reading thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class NetContext:
    """What one gateway session's connections share: the policy and the current deadline."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy
        self.guard: DeadlineGuard | None = None

    def attach(self, sock: socket.socket | None) -> None:
        if sock is not None and self.guard is not None:
            self.guard.attach(sock)


class _PinnedConnectionMixin:
    gateway_net: NetContext
    # Provided by urllib3's HTTPConnection:
    _dns_host: str
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        try:
            addresses = self.gateway_net.policy.resolve(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        error: Exception | None = None
        for _family, address in addresses:
            try:
                return u3connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")  # type: ignore[arg-type]
        raise error or NewConnectionError(self, "no address to connect to")  # type: ignore[arg-type]

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.gateway_net.attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        self.gateway_net.attach(self.sock)  # a kept-alive connection joins this exchange's guard
        super().request(*args, **kwargs)  # type: ignore[misc]


class PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedPoolMixin:
    gateway_net: NetContext

    def _new_conn(self) -> Any:
        conn = super()._new_conn()  # type: ignore[misc]
        conn.gateway_net = self.gateway_net
        return conn


class PinnedHTTPConnectionPool(_PinnedPoolMixin, HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(_PinnedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedPoolManager(PoolManager):
    """A PoolManager whose pools make pinned, policy-checked, guard-aware connections."""

    def __init__(self, net: NetContext, **kw: Any) -> None:
        super().__init__(**kw)
        self.gateway_net = net
        self.pool_classes_by_scheme = {"http": PinnedHTTPConnectionPool, "https": PinnedHTTPSConnectionPool}

    def _new_pool(self, scheme: str, host: str, port: int, request_context: Any = None) -> Any:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.gateway_net = self.gateway_net  # type: ignore[attr-defined]
        return pool
