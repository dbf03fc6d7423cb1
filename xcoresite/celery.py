"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered."""

import gc
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init
from django.core.management.base import SystemCheckError

from xcoresite.startup_checks import check_or_refuse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")

app = Celery("xcoresite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def worker_checks(sender: Any = None, **kwargs: Any) -> None:
    _refuse_on_failing_checks("celery worker")
    freeze_long_lived_objects()


@worker_process_init.connect
def freeze_in_pool_process(**kwargs: Any) -> None:
    freeze_long_lived_objects()


def freeze_long_lived_objects() -> None:
    """Move every object alive now (modules, classes, settings, Django's app registry) out of
    the cyclic garbage collector's reach. A page of records allocates thousands of containers,
    so collections run often during a sync; each full one walked the whole startup heap again
    (about 0.06 s a time). Measured on an unchanged 100,000-record re-sync in one process:
    median 1.64-1.71 s before, 1.26-1.36 s after. Done before the pool forks it also keeps
    those pages shared between the pool processes (collections no longer write to them)."""
    gc.collect()
    gc.freeze()


@beat_init.connect
def beat_checks(sender: Any = None, **kwargs: Any) -> None:
    _refuse_on_failing_checks("celery beat")


def _refuse_on_failing_checks(process: str) -> None:
    # SystemExit, not the exception: Celery's signal dispatch logs and swallows exceptions.
    import django
    from django.apps import apps

    # Celery's Django fixup has set Django up already. Not again: django.setup() re-applies
    # LOGGING, which resets the root level that `celery -l INFO` set (beat's "Sending due
    # task" lines vanished).
    if not apps.ready:
        django.setup()
    try:
        check_or_refuse(process)
    except SystemCheckError as exc:
        # To the real stderr: Celery redirects sys.stderr into its logger, which drops what is
        # written while the process exits (beat then died with status 1 and no message).
        stderr = sys.__stderr__ or sys.stderr
        stderr.write(f"{exc}\n")
        stderr.flush()
        raise SystemExit(1) from None
