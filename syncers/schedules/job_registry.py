"""Static jobs' callables: only functions registered here may be named by a `jobs:` entry of
the configuration file, never an import path read from the file (an operator's file must not
be able to run arbitrary code). Apps register them in a `sync_jobs` module, autodiscovered
like `sync_handlers`:

    # myapp/sync_jobs.py
    from syncers.schedules.job_registry import sync_job

    @sync_job("myapp.tasks:sync_data")      # the name the file uses; default "<module>:<name>"
    def sync_data(**kwargs): ...

A job's callable runs in a worker with the entry's `kwargs` (JSON) and returns a JSON-able
value or None."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import autodiscover_modules

JobCallable = Callable[..., Any]
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_jobs: dict[str, JobCallable] = {}


class UnknownJob(LookupError):
    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(_jobs)) or "none are registered"
        super().__init__(f"no registered job callable {name!r} (registered: {known})")


def sync_job(name: str | None = None) -> Callable[[JobCallable], JobCallable]:
    """Decorator: make `func` available to `jobs:` entries under `name`."""

    def register(func: JobCallable) -> JobCallable:
        key = name or f"{func.__module__}:{func.__qualname__}"
        if not _NAME.match(key):
            raise ValueError(f"sync job name {key!r}: 1-200 letters, digits, '.', ':', '_' or '-'")
        existing = _jobs.get(key)
        if existing is not None and existing is not func:
            raise ValueError(f"sync job name {key!r} is already taken by {existing.__module__}")
        _jobs[key] = func
        return func

    return register


def get_job(name: str) -> JobCallable:
    try:
        return _jobs[name]
    except KeyError:
        raise UnknownJob(name) from None


def job_names() -> list[str]:
    return sorted(_jobs)


def autodiscover() -> None:
    autodiscover_modules("sync_jobs")
