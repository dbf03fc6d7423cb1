"""Django's system checks for the processes manage.py does not start: the Celery worker and
beat (celery.py) and a WSGI server (wsgi.py). manage.py commands run them themselves; Celery's
Django fixup runs them too but discards the result, and a WSGI server does not run them at all,
so without this a worker with, say, no encryption key (gateway.E001) would start and fail task
by task."""

from __future__ import annotations

from django.core.management.base import BaseCommand, SystemCheckError


def check_or_refuse(process: str) -> None:
    """Run the checks every manage.py command runs (warnings go to stderr); on an error raise
    SystemCheckError naming `process` and every failing check."""
    try:
        BaseCommand().check()
    except SystemCheckError as exc:
        report = str(exc).removeprefix("SystemCheckError: ")  # Django's header for the command line
        raise SystemCheckError(f"{process} refuses to start: {report}") from None
