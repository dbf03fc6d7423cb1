"""Which client, run, batch and page a log line belongs to, carried in context variables so
every logger below the pipeline (gateway included) gets them without passing them around;
and a JSON formatter (LOG_FORMAT=json) that writes one object per line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("sync_log_context", default={})  # noqa: B039 (never mutated)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (client, run, batch, page) to every log record inside the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def set_log_field(**fields: Any) -> None:
    """Update a field for the rest of the current block (e.g. the page being staged)."""
    _CONTEXT.set({**_CONTEXT.get(), **fields})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            setattr(record, key, value)
        record.sync_context = dict(_CONTEXT.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "sync_context", {}),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)
