"""The syncers app's start: registers its checks, signal receivers, handlers, static jobs and
plugins once the app registry is ready."""

from django.apps import AppConfig


class SyncersConfig(AppConfig):
    name = "syncers"
    verbose_name = "Sync clients"

    def ready(self) -> None:
        from syncers import registry
        from syncers.destinations import config  # noqa: F401  (registers the destination validator)
        from syncers.ops import checks  # noqa: F401  (registers the system checks)
        from syncers.plugins import manifest, validation  # noqa: F401  (register the plugin validators)
        from syncers.schedules import job_registry, signals  # noqa: F401  (signals: registers the receivers)

        registry.autodiscover()
        job_registry.autodiscover()
        from syncers.console import plugins  # noqa: F401  (discovers plugins, registers their tasks and admin)
