"""Every gateway failure is one of four kinds, so callers decide by kind, never by parsing
messages. Messages never carry credentials or headers."""


class GatewayError(Exception):
    """Base class; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class TransientError(GatewayError):
    """Worth trying again later: timeouts, connection errors, 429, 5xx. `retry_after` is the
    server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AuthError(GatewayError):
    """401/403: retrying will not help until someone fixes the credentials."""


class PermanentError(GatewayError):
    """Other 4xx and refused requests: the request itself is wrong."""


class PayloadError(GatewayError):
    """The server answered, but not with what we can use (bad JSON, too large, wrong shape)."""
