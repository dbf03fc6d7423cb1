"""The plugin base class and the decorators that mark what a plugin offers:

@service("fetch_raw_data")            other plugins call it through ctx.registry.call(...)
@task("tasks.sync:process_batch")     a Celery task with that frozen name (see plugins.tasks)
@cron("0 * * * *") / @interval(60)    a job ctx.scheduler.add_jobs_from(self) puts in beat
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .errors import UnknownAction
from .manifest import Manifest

if TYPE_CHECKING:
    from .ports import Context

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class JobSpec:
    """A job a plugin declares with @cron or @interval; `method` is called when it fires."""

    job_id: str
    method: str
    cron: str | None = None
    timezone: str = "UTC"
    every: int | None = None
    period: str = "seconds"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    plugin: str
    method: str
    # Run the body and the completion record in one transaction, so a redelivered message
    # finds the task done and does nothing. Tasks that do slow I/O pass atomic=False and
    # must be idempotent themselves.
    atomic: bool = True


class Plugin:
    """Subclass, set `manifest`, override what you need. The framework sets `self.ctx`
    before on_load; every service on it checks the plugin's grants on every call.

    Lifecycle (see docs/guides/plugin.md): on_load once per process before first use; on_start
    when a worker starts (and from the admin); on_stop at worker shutdown (and the admin).
    on_start must be idempotent: several workers each run it."""

    manifest: ClassVar[Manifest]
    ctx: Context

    def on_load(self, ctx: Context) -> None:
        """Take the services you need (`ctx.db`, `ctx.cache`, ...). No I/O here."""

    def on_start(self, ctx: Context) -> None:
        """Register jobs (idempotently), warm up."""

    def on_stop(self, ctx: Context) -> None:
        """Release what this plugin holds."""

    def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Custom actions (plugin_call, the admin). Return a JSON-able dict."""
        raise UnknownAction(self.manifest.name, action, self.manifest.actions)


def service(name: str | None = None) -> Callable[[F], F]:
    """Offer a method to other plugins (each caller needs a grant on `plugin:<this name>`)."""

    def mark(fn: F) -> F:
        fn._plugin_service = name or fn.__name__  # type: ignore[attr-defined]
        return fn

    return mark


def task(name: str, *, atomic: bool = True) -> Callable[[F], F]:
    """Declare a worker task with a frozen name; its kwargs must be JSON and wait in the DB."""

    def mark(fn: F) -> F:
        fn._plugin_task = (name, atomic)  # type: ignore[attr-defined]
        return fn

    return mark


def cron(expr: str, *, job_id: str | None = None, timezone: str = "UTC") -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn._plugin_job = JobSpec(job_id or fn.__name__, fn.__name__, cron=expr, timezone=timezone)  # type: ignore[attr-defined]
        return fn

    return mark


def interval(every: int, *, period: str = "seconds", job_id: str | None = None) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn._plugin_job = JobSpec(job_id or fn.__name__, fn.__name__, every=every, period=period)  # type: ignore[attr-defined]
        return fn

    return mark


def declared(cls: type[Plugin], marker: str) -> dict[str, Any]:
    """Attribute name → marker value for every decorated method of a plugin class."""
    found = {}
    for attr in dir(cls):
        value = getattr(getattr(cls, attr, None), marker, None)
        if value is not None:
            found[attr] = value
    return found


def job_method_problem(cls: type[Plugin], call: str) -> str | None:
    """Why `call` may not run as a job of this plugin (None: it may). A job runs a public
    method the plugin class itself defines — never a dunder (`__class__` would instantiate
    the plugin), a private name, or the Plugin base's lifecycle and dispatch methods."""
    if not call.isidentifier() or call.startswith("_"):
        return f"{call!r} is not a public method name"
    if hasattr(Plugin, call):
        return f"{call!r} belongs to the Plugin base class, not to a job"
    if not inspect.isfunction(inspect.getattr_static(cls, call, None)):
        return f"plugin class {cls.__name__} defines no method {call!r}"
    return None
