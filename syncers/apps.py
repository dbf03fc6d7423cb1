from django.apps import AppConfig


class SyncersConfig(AppConfig):
    name = "syncers"
    verbose_name = "Sync clients"

    def ready(self) -> None:
        from syncers import checks, job_registry, registry, signals  # noqa: F401  (registers checks and signal receivers)

        registry.autodiscover()
        job_registry.autodiscover()
        from syncers import plugin_admin  # noqa: F401  (discovers plugins, registers their tasks and admin)
