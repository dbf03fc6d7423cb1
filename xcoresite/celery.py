"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered."""

import os
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

    django.setup()  # done by Celery's Django fixup already; a no-op then
    try:
        check_or_refuse(process)
    except SystemCheckError as exc:
        raise SystemExit(str(exc)) from None
