"""What a plugin sees of its context (`self.ctx`), as protocols.

The Plugin base class (base.py) sits at the bottom of the plugin framework: the registry
and the services import it (and the models' save-time validation reaches it through the
registry). The services and the context that hands them out (context.PluginContext) sit
above it, so base names their shape here instead of importing them; mypy checks that
PluginContext and its services match these protocols where the host hands a context to a
plugin."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from gateway.payload import GatewayResponse


class Table(Protocol):
    """One table opened to plugins (services.db.Table)."""

    def get(self, **lookups: Any) -> dict[str, Any] | None: ...

    def filter(
        self, *, order_by: Sequence[str] = (), limit: int | None = None, **lookups: Any
    ) -> list[dict[str, Any]]: ...

    def count(self, **lookups: Any) -> int: ...

    def insert(self, **values: Any) -> int: ...

    def upsert(
        self, rows: Iterable[Mapping[str, Any]], *, key: Sequence[str], update: Sequence[str]
    ) -> int: ...

    def update(self, where: Mapping[str, Any], **values: Any) -> int: ...

    def increment(self, where: Mapping[str, Any], **deltas: int) -> int: ...

    def delete(self, **lookups: Any) -> int: ...


class Db(Protocol):
    """services.db.DbService."""

    def table(self, name: str) -> Table: ...

    def atomic(self) -> AbstractContextManager[Any]: ...

    def on_commit(self, fn: Callable[[], Any]) -> None: ...


class Lock(Protocol):
    """A held cache lock (services.cache.CacheLock)."""

    @property
    def key(self) -> str: ...

    @property
    def token(self) -> str: ...

    @property
    def ttl(self) -> float: ...

    def release(self) -> bool: ...

    def renew(self) -> bool: ...


class Cache(Protocol):
    """services.cache.CacheService."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str, ttl: float) -> Lock | None: ...

    def renew_lock(self, key: str, token: str, ttl: float) -> bool: ...

    def release_lock(self, key: str, token: str) -> bool: ...

    def lock_holder(self, key: str) -> str | None: ...

    def clear_lock(self, key: str) -> bool: ...


class Scheduler(Protocol):
    """services.scheduler.SchedulerService."""

    def add_job(
        self,
        job_id: str,
        *,
        call: str,
        cron: str | None = None,
        timezone: str = "UTC",
        every: int | None = None,
        period: str = "seconds",
        run_at: datetime | str | None = None,
        kwargs: dict[str, Any] | None = None,
        queue: str | None = None,
        replace: bool | None = None,
    ) -> dict[str, Any]: ...

    def add_jobs_from(self, plugin: Any) -> list[dict[str, Any]]:
        """`plugin`: a Plugin instance (typed Any here: this module is below base)."""
        ...

    def remove_job(self, job_id: str) -> bool: ...

    def pause_job(self, job_id: str) -> bool: ...

    def resume_job(self, job_id: str) -> bool: ...

    def list_jobs(self) -> list[dict[str, Any]]: ...


class Worker(Protocol):
    """services.worker.WorkerService."""

    def send(
        self, task_name: str, kwargs: dict[str, Any] | None = None, *, queue: str | None = None
    ) -> int: ...

    def result(self, run_id: int) -> dict[str, Any]: ...

    def wait(self, run_id: int, timeout: float = 60.0, interval: float = 0.2) -> dict[str, Any]: ...


class Calls(Protocol):
    """services.calls.RegistryService: other plugins' services."""

    def services(self, plugin: str) -> list[str]: ...

    def call(self, plugin: str, service: str, **kwargs: Any) -> Any: ...


class Session(Protocol):
    """services.gateway.GrantedSession (a context manager)."""

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any: ...

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> GatewayResponse: ...

    def post_json(self, path_or_url: str, payload: Any) -> GatewayResponse: ...


class Gateway(Protocol):
    """services.gateway.GatewayService."""

    def session(self, connection: str) -> Session: ...


class Context(Protocol):
    """context.PluginContext: one per plugin and process."""

    plugin: str
    log: logging.Logger

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def db(self) -> Db: ...

    @property
    def cache(self) -> Cache: ...

    @property
    def scheduler(self) -> Scheduler: ...

    @property
    def worker(self) -> Worker: ...

    @property
    def registry(self) -> Calls: ...

    @property
    def gateway(self) -> Gateway: ...

    def service(self, name: str) -> Any: ...
