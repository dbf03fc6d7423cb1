"""The project: settings (read from the environment), URLs, the Celery app and `make run`'s
devstack. It wires the apps together and holds no sync logic."""

from .celery import app as celery_app

__all__ = ("celery_app",)
