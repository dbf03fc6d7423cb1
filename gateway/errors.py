"""Every gateway failure is one of four kinds, so callers decide by kind, never by parsing
messages. Messages never carry credentials, headers or bodies; URLs in them are redacted."""


class GatewayError(Exception):
    """Base class; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class TransientError(GatewayError):
    """Worth trying again later: timeouts, connection errors, 429, 5xx. `retry_after` is the
    server's Retry-After in seconds, when it sent one (or when the rate limit has no slot for
    that long). `retryable` says whether the gateway itself may retry at once: connect errors,
    429, 502, 503 and 504 are; timeouts, other 5xx and a full rate limit are not."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        retryable: bool = False,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.retryable = retryable


class AuthError(GatewayError):
    """401/403: retrying will not help until someone fixes the credentials."""


class PermanentError(GatewayError):
    """Other 4xx and refused requests: the request itself is wrong."""


class BlockedAddress(PermanentError):
    """The network policy refused the target (SSRF guard: scheme, address range or host)."""


class PayloadError(GatewayError):
    """The server answered, but not with what we can use (bad JSON, too large, wrong shape)."""
