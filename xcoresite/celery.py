"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered."""

import os
import sys
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init
from django.core.management.base import SystemCheckError

from xcoresite.startup_checks import check_or_refuse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")

app = Celery("xcoresite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def worker_checks(sender: Any = None, **kwargs: Any) -> None:
    _refuse_on_failing_checks("celery worker")


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
