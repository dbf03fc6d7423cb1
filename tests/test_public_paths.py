"""What issue 17's regrouping of syncers/ must not break: the module paths users write in their
settings and apps still import the very objects they did, and every Celery task keeps its
registered name (a renamed task would strand the messages queued under the old one, and beat
stores the names as strings)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from celery.utils.imports import symbol_by_name
from django.conf import settings

import xcoresite.settings
from xcoresite.celery import app

# (old path as a user wrote it, where the object lives now)
KEPT_PATHS = [
    ("syncers.beat:SyncScheduler", "syncers.schedules.beat:SyncScheduler"),  # celery beat -S
    ("syncers.notify.EmailChannel", "syncers.alerts.notify.EmailChannel"),  # SYNC_NOTIFY_CHANNELS
    ("syncers.notify.WebhookChannel", "syncers.alerts.notify.WebhookChannel"),
    ("syncers.notify.Channel", "syncers.alerts.notify.Channel"),
    ("syncers.job_registry.sync_job", "syncers.schedules.job_registry.sync_job"),  # an app's sync_jobs
    ("syncers.job_registry.UnknownJob", "syncers.schedules.job_registry.UnknownJob"),
]
# (syncers.logcontext, which LOGGING names, did not move; tests/test_observability.py uses it.)
NEW_SETTINGS_PATHS = (
    "syncers.schedules.beat:SyncScheduler",
    "syncers.alerts.notify.EmailChannel",
    "syncers.alerts.notify.WebhookChannel",
)


@pytest.mark.parametrize(("old", "new"), KEPT_PATHS)
def test_an_old_public_path_still_imports_the_same_object(old: str, new: str) -> None:
    assert symbol_by_name(old) is symbol_by_name(new)


def test_the_project_settings_name_the_new_paths() -> None:
    text = Path(xcoresite.settings.__file__).read_text()
    for old in ("syncers.beat:", "syncers.notify.", "syncers.job_registry"):
        assert old not in text, old
    for new in NEW_SETTINGS_PATHS:
        assert new in text, new
    for path in (settings.CELERY_BEAT_SCHEDULER, *settings.SYNC_NOTIFY_CHANNELS):
        assert symbol_by_name(path) is not None, path


@pytest.mark.parametrize("name", ["sync_handlers", "sync_plugins", "admin", "tasks"])
def test_the_autodiscovered_module_names_stay(name: str) -> None:
    # Django (admin), Celery (tasks) and our registries (sync_handlers, sync_plugins, and an
    # app's sync_jobs) import `<app>.<name>`: syncers keeps each at its top level.
    assert importlib.import_module(f"syncers.{name}").__name__ == f"syncers.{name}"


# Every task name the product registers, frozen: schedules, static jobs and plugin jobs store
# them in beat's table, and queued messages carry them.
FROZEN_TASKS = {
    "syncers.run_sync": "syncers.tasks",
    "syncers.scheduled_sync": "syncers.tasks",
    "syncers.static_job": "syncers.tasks",
    "syncers.load_batch": "syncers.tasks",
    "syncers.reconcile": "syncers.tasks",
    "plugins.run_job": "syncers.plugins.tasks",
    "plugins.reconcile": "syncers.plugins.tasks",
    "tasks.sync:process_batch": "syncers.plugins.tasks",  # declared by the data_syncer plugin
}


def product_tasks() -> dict[str, Any]:
    app.loader.import_default_modules()  # what a worker imports at start: syncers.tasks included
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_keeps_its_frozen_name() -> None:
    tasks = product_tasks()
    assert set(tasks) == set(FROZEN_TASKS)
    for name, module in FROZEN_TASKS.items():
        assert tasks[name].__module__ == module, name


def test_no_task_name_comes_from_its_module_path() -> None:
    # A name Celery derives (`<module>.<function>`) would change with a move: each is explicit.
    for name, task in product_tasks().items():
        assert not name.startswith(f"{task.__module__}."), name
