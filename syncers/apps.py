"""The syncers app's start: registers its checks, signal receivers, handlers, static jobs and
plugins once the app registry is ready."""

from django.apps import AppConfig


class SyncersConfig(AppConfig):
    name = "syncers"
    verbose_name = "Sync clients"

    def ready(self) -> None:
        from . import checks, job_registry, registry, signals  # noqa: F401  (registers checks and signal receivers)

        registry.autodiscover()
        job_registry.autodiscover()
        from . import plugin_admin  # noqa: F401  (discovers plugins, registers their tasks and admin)
