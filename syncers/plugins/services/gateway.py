"""The gateway service: a session for a granted gateway connection. Every request is
checked against `gateway:<connection name>` (GET: read, POST: write) and then goes through
gateway.session_for, which applies the connection's whole network policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.models import Connection
from gateway.payload import GatewayResponse
from gateway.session import GatewaySession, session_for
from syncers.plugins.errors import PluginError
from syncers.plugins.grants import require


class GatewayService:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def session(self, connection: str) -> GrantedSession:
        require(self.plugin, f"gateway:{connection}", "read")
        conn = Connection.objects.filter(name=connection).first()
        if conn is None:
            raise PluginError(f"no gateway connection named {connection!r}")
        return GrantedSession(self.plugin, connection, session_for(conn))


class GrantedSession:
    """The gateway session, re-checking the grant before each request."""

    def __init__(self, plugin: str, connection: str, session: GatewaySession) -> None:
        self.plugin, self.resource, self._session = plugin, f"gateway:{connection}", session

    def __enter__(self) -> GrantedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        require(self.plugin, self.resource, "read")
        return self._session.get_json(path, params=params)

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> GatewayResponse:
        require(self.plugin, self.resource, "read")
        return self._session.get(path_or_url, params=params)

    def post_json(self, path_or_url: str, payload: Any) -> GatewayResponse:
        require(self.plugin, self.resource, "write")
        return self._session.post_json(path_or_url, payload)
